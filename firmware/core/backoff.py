class Backoff:
    """Exponential reconnect delays with jitter, so a room of boards does not
    reconnect in lockstep after the access point comes back."""

    def __init__(self, random, first_ms=1000, max_ms=60000):
        self._random = random  # a function returning a float in [0, 1)
        self.first_ms = first_ms
        self.max_ms = max_ms
        self.attempt = 0

    def next_ms(self):
        """The next delay: half the capped exponential step plus up to another half."""
        step = min(self.max_ms, self.first_ms * (1 << min(self.attempt, 20)))
        self.attempt += 1
        return int(step / 2 + self._random() * step / 2)

    def reset(self):
        self.attempt = 0
