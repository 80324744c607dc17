"""Stand-ins for the hardware boundary only: `machine`, `network`, `ntptime`, `onewire`.

The firmware's own code runs unchanged on the host; these modules replace the
ESP32's, and `Signals` is the physical world the fake sensors measure.
"""

from __future__ import annotations

import math
import sys
import types
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Signals:
    """What the board's sensors see, set by the test."""

    current_a: float = 0.0  # RMS mains current through the clamp
    amps_per_volt: float = 5.0  # the clamp's ratio (SCT-013-005, as tests/firmware/board.py fits)
    adc_rate_hz: int = 2000  # the firmware's default ct_sample_rate_hz
    thermocouple_c: float = 25.0
    thermocouple_open: bool = False
    wifi_up: bool = True
    pins: dict[int, int] = field(default_factory=dict)  # output pin -> level written
    button_down: bool = False
    watchdog_feeds: int = 0


SIGNALS = Signals()


class Pin:
    IN, OUT, PULL_UP = 0, 1, 2

    def __init__(
        self, pin_id: int, mode: int = -1, pull: int = -1, value: int | None = None
    ) -> None:
        self.id = pin_id
        if value is not None:
            self.value(value)

    def value(self, level: int | None = None) -> int:
        if level is None:
            if self.id in SIGNALS.pins:
                return SIGNALS.pins[self.id]
            return 0 if SIGNALS.button_down else 1
        SIGNALS.pins[self.id] = level
        return level


class ADC:
    ATTN_11DB = 3

    def __init__(self, pin: Pin) -> None:
        self.pin = pin
        self.reads = 0

    def atten(self, attenuation: int) -> None:
        pass

    def read_uv(self) -> int:
        """The clamp's voltage on a 1.65 V bias: a 50 Hz sine for current_a.

        Each read advances one sample period at adc_rate_hz, as the paced ADC on the
        board does, so a busy test machine cannot skew the waveform.
        """
        self.reads += 1
        phase = 2 * math.pi * 50 * self.reads / SIGNALS.adc_rate_hz + 0.4
        peak_uv = SIGNALS.current_a * math.sqrt(2) / SIGNALS.amps_per_volt * 1e6
        return int(1_650_000 + peak_uv * math.sin(phase))


class SoftSPI:
    def __init__(self, **kwargs: Any) -> None:
        pass

    def read(self, n: int) -> bytes:
        """A MAX6675 word: 12 bits of 0.25 C from bit 3; bit 2 set when the couple is open."""
        word = int(SIGNALS.thermocouple_c / 0.25) << 3
        if SIGNALS.thermocouple_open:
            word |= 0x4
        return word.to_bytes(n, "big")


class WDT:
    def __init__(self, timeout: int) -> None:
        self.timeout = timeout

    def feed(self) -> None:
        SIGNALS.watchdog_feeds += 1


class WLAN:
    def __init__(self, interface: int) -> None:
        self.interface = interface

    def active(self, on: bool | None = None) -> bool:
        return True

    def connect(self, ssid: str, password: str) -> None:
        pass

    def isconnected(self) -> bool:
        return SIGNALS.wifi_up

    def status(self, what: str | None = None) -> int:
        return -58 if what == "rssi" else 1010


def install() -> Signals:
    """Put the stand-in modules in sys.modules; return fresh signals."""
    global SIGNALS
    SIGNALS = Signals()
    machine = types.ModuleType("machine")
    machine.Pin, machine.ADC, machine.SoftSPI, machine.WDT = Pin, ADC, SoftSPI, WDT  # type: ignore[attr-defined]
    machine.UART = object  # type: ignore[attr-defined]
    network = types.ModuleType("network")
    network.WLAN, network.STA_IF = WLAN, 0  # type: ignore[attr-defined]
    ntptime = types.ModuleType("ntptime")
    ntptime.host = "pool.ntp.org"  # type: ignore[attr-defined]
    ntptime.settime = lambda: None  # type: ignore[attr-defined]  # the host clock is already right
    onewire = types.ModuleType("onewire")
    sys.modules.update(machine=machine, network=network, ntptime=ntptime, onewire=onewire)
    return SIGNALS
