# The machine's state from its power: off / idle / active, without flapping.
#
# Hysteresis: once above a threshold, the power must fall below
# threshold * (1 - hysteresis) to count as below it again. Dwell: a new level
# must hold for min_dwell_ms before the state changes.
OFF = "off"
IDLE = "idle"
ACTIVE = "active"


class StateMachine:
    def __init__(self, idle_above_w, active_above_w, hysteresis=0.2, min_dwell_ms=5000):
        self.state = OFF
        self.since_ms = None  # when the current state began (None: since boot, unknown)
        self._candidate = None
        self._candidate_since_ms = 0
        self.configure(idle_above_w, active_above_w, hysteresis, min_dwell_ms)

    def configure(self, idle_above_w, active_above_w, hysteresis=None, min_dwell_ms=None):
        if not 0 <= idle_above_w < active_above_w:
            raise ValueError("need 0 <= idle_above_w < active_above_w")
        self.idle_above_w = idle_above_w
        self.active_above_w = active_above_w
        if hysteresis is not None:
            self.hysteresis = hysteresis
        if min_dwell_ms is not None:
            self.min_dwell_ms = min_dwell_ms

    def settled(self):
        """True when no new level is waiting out its dwell."""
        return self._candidate is None

    def level(self, power_w):
        """The level this power means, given the current state (hysteresis)."""
        keep = 1 - self.hysteresis
        if power_w > self.active_above_w or (
            self.state == ACTIVE and power_w > self.active_above_w * keep
        ):
            return ACTIVE
        if power_w > self.idle_above_w or (
            self.state != OFF and power_w > self.idle_above_w * keep
        ):
            return IDLE
        return OFF

    def update(self, power_w, now_ms):
        """Feed one power sample; return the new state when it changes, else None."""
        level = self.level(power_w)
        if level == self.state:
            self._candidate = None
            return None
        if level != self._candidate:
            self._candidate = level
            self._candidate_since_ms = now_ms
        if now_ms - self._candidate_since_ms < self.min_dwell_ms:
            return None
        self.previous, self.previous_duration_ms = self.state, None
        if self.since_ms is not None:
            self.previous_duration_ms = now_ms - self.since_ms
        self.state = level
        self.since_ms = now_ms
        self._candidate = None
        return level
