# Relay, status LED and push button: plain GPIO.
from machine import Pin

from firmware.ticks import ticks_diff, ticks_ms

DEBOUNCE_MS = 50


class Output:
    """A relay (through a driver transistor or module) or an LED."""

    def __init__(self, pin, active_high=True):
        self.pin = Pin(pin, Pin.OUT)
        self.active_high = active_high
        self.set(False)

    def set(self, on):
        self.is_on = bool(on)
        self.pin.value(1 if self.is_on == self.active_high else 0)


class Button:
    """A push button to ground (internal pull-up); pressed() reports each press once."""

    def __init__(self, pin):
        self.pin = Pin(pin, Pin.IN, Pin.PULL_UP)
        self._was_down = False
        self._changed_ms = ticks_ms()

    def pressed(self):
        down = self.pin.value() == 0
        now = ticks_ms()
        if down != self._was_down and ticks_diff(now, self._changed_ms) >= DEBOUNCE_MS:
            self._was_down = down
            self._changed_ms = now
            return down
        return False
