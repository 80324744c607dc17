# PZEM-004T v3.0 on a UART at 9600 8N1 (the module's datasheet).
from machine import UART

from firmware.core.pzem import RESPONSE_BYTES, parse_response, read_request
from firmware.ticks import sleep_ms


class PZEM:
    name = "pzem"

    def __init__(self, settings):
        self.uart = UART(settings["pzem_uart"], baudrate=9600, tx=settings["pzem_tx_pin"],
                         rx=settings["pzem_rx_pin"], timeout=200)  # fmt: skip

    def read(self):
        self.uart.read()  # discard anything stale
        self.uart.write(read_request())
        sleep_ms(60)  # the module answers within about 50 ms
        values = parse_response(self.uart.read(RESPONSE_BYTES) or b"")
        return {key: values[key] for key in ("power_w", "current_a", "voltage_v", "energy_wh")}
