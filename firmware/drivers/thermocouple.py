# MAX6675 or MAX31855 thermocouple amplifier on SPI (read-only: SCK, MISO, CS).
from machine import Pin, SoftSPI

from firmware.core.temperature import max6675_celsius, max31855_celsius


class Thermocouple:
    def __init__(self, settings):
        self.name = settings["temp_sensor"]
        self.cs = Pin(settings["spi_cs_pin"], Pin.OUT, value=1)
        self.spi = SoftSPI(baudrate=1000000, polarity=0, phase=0, sck=Pin(settings["spi_sck_pin"]),
                           mosi=Pin(settings["spi_mosi_pin"]),  # unused by the chip, required by SoftSPI
                           miso=Pin(settings["spi_miso_pin"]))  # fmt: skip
        self.width = 4 if self.name == "max31855" else 2

    def read_c(self):
        self.cs.value(0)
        try:
            data = self.spi.read(self.width)
        finally:
            self.cs.value(1)
        raw = 0
        for byte in data:
            raw = raw << 8 | byte
        return max31855_celsius(raw) if self.width == 4 else max6675_celsius(raw)
