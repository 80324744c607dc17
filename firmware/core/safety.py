class SafetyTimer:
    """Switches a relay-equipped machine off after max_on_ms of continuous on-time.

    It runs on the board's own clock, so it holds when the network is down.
    max_on_ms = 0 means no limit.
    """

    def __init__(self, max_on_ms):
        self.max_on_ms = max_on_ms
        self._on_since_ms = None

    def must_switch_off(self, relay_on, now_ms):
        if not relay_on or not self.max_on_ms:
            self._on_since_ms = None
            return False
        if self._on_since_ms is None:
            self._on_since_ms = now_ms
        return now_ms - self._on_since_ms >= self.max_on_ms
