# DS18B20 on a 1-Wire bus with a 4.7 kOhm pull-up (datasheet). Conversion is
# started on one call and read on the next, so the main loop never waits 750 ms.
import onewire
from machine import Pin

from firmware.core.faults import SensorFault
from firmware.core.temperature import ds18b20_celsius

SKIP_ROM, CONVERT_T, READ_SCRATCHPAD = 0xCC, 0x44, 0xBE


class DS18B20:
    name = "ds18b20"

    def __init__(self, settings):
        self.bus = onewire.OneWire(Pin(settings["onewire_pin"]))
        self._converting = False

    def _command(self, command):
        if not self.bus.reset():
            raise SensorFault("ds18b20", "no presence pulse: sensor missing or wire broken")
        self.bus.writebyte(SKIP_ROM)
        self.bus.writebyte(command)

    def read_c(self):
        if not self._converting:
            self._command(CONVERT_T)
            self._converting = True
            return None
        self._command(READ_SCRATCHPAD)
        scratchpad = bytearray(9)
        self.bus.readinto(scratchpad)
        self._command(CONVERT_T)  # start the next conversion
        return ds18b20_celsius(bytes(scratchpad))
