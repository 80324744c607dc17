class Backoff:
    """Exponential delays, capped: the one definition of back-off, for the board (in
    MicroPython) and the server (in CPython: makerwatch's reconnect and retry loops).

    With `random` (a function returning a float in [0, 1)) each delay is jittered, so a
    room of boards does not reconnect in lockstep after the access point comes back;
    without it (None, the server's single clients) each delay is the step itself:
    first, twice that, four times... up to max."""

    def __init__(self, random=None, first_ms=1000, max_ms=60000):
        self._random = random
        self.first_ms = first_ms
        self.max_ms = max_ms
        self.attempt = 0

    def next_ms(self):
        """The next delay: the capped exponential step, or with jitter half of it plus up
        to another half."""
        step = min(self.max_ms, self.first_ms * (1 << min(self.attempt, 20)))
        self.attempt += 1
        if self._random is None:
            return step
        return int(step / 2 + self._random() * step / 2)

    def next_s(self):
        """The next delay in seconds (asyncio and threads sleep in seconds)."""
        return self.next_ms() / 1000

    def reset(self):
        self.attempt = 0
