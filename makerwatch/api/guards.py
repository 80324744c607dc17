"""What keeps one client from taking the HTTP API from everyone else: caps on how many
of a thing may be open at once, in all and from one address, and a budget of wrong
staff tokens per address. Each refusal is counted for /metrics.

Addresses are the TCP peer's: behind a reverse proxy every client would share the
proxy's address, so the API is served directly (docs/security.md).
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["Caps", "Guard", "GuessBudget"]

# Floor-board streams: a kiosk or two and a few staff phones per address; in all, well
# under the listener's 256 connections, so that health checks and staff actions always
# find one (a stream holds its connection for as long as the page is open).
STREAMS_PER_ADDRESS = 8
STREAMS_TOTAL = 64
# Wrong staff tokens: a person mistyping gets 10 tries at once and one more every 6 s;
# a guesser gets 10 a minute instead of thousands a second.
GUESSES_BURST = 10
GUESS_REFILL_S = 6.0
GUESSERS_KEPT = 10_000  # addresses remembered at most (an IPv6 attacker has many)


class Caps:
    """At most `total` held at once, and at most `per_address` by one address. Past
    `total`, an address holding fewer than `reserve_each` may still take one of
    `reserve` more: a flood from a few addresses cannot shut out a phone that needs
    one or two."""

    def __init__(
        self, total: int, per_address: int, reserve: int = 0, reserve_each: int = 0
    ) -> None:
        self.total = total
        self.per_address = per_address
        self.reserve = reserve
        self.reserve_each = reserve_each
        self.held: Counter[str] = Counter()

    def take(self, address: str) -> str | None:
        """Hold one for `address`: None when held, else which cap refused ("address",
        "total"); the caller releases what it holds."""
        mine, everyone = self.held[address], self.held.total()
        if mine >= self.per_address:
            return "address"
        if everyone >= self.total and (
            mine >= self.reserve_each or everyone >= self.total + self.reserve
        ):
            return "total"
        self.held[address] += 1
        return None

    def release(self, address: str) -> None:
        self.held[address] -= 1
        if self.held[address] <= 0:
            del self.held[address]


class GuessBudget:
    """Wrong staff tokens per address, as a token bucket: `burst` at once, refilled one
    every `refill_s`. Only failures spend it, so staff who type well never notice it."""

    def __init__(
        self,
        burst: int = GUESSES_BURST,
        refill_s: float = GUESS_REFILL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.burst = burst
        self.refill_s = refill_s
        self._clock = clock
        self._spent: dict[str, tuple[float, float]] = {}  # address -> (spent, at)

    def _spent_now(self, address: str, now: float) -> float:
        spent, at = self._spent.get(address, (0.0, now))
        return max(0.0, spent - (now - at) / self.refill_s)

    def wait_s(self, address: str) -> int:
        """Whole seconds until `address` may try a token again (0: now)."""
        over = self._spent_now(address, self._clock()) - (self.burst - 1)
        return math.ceil(round(over * self.refill_s, 6)) if over > 0 else 0

    def failed(self, address: str) -> int:
        """Spend one for a wrong token; returns the tries left before a pause."""
        now = self._clock()
        spent = self._spent_now(address, now) + 1
        self._spent.pop(address, None)  # re-inserted last: the dict stays oldest first
        self._spent[address] = (spent, now)
        while len(self._spent) > GUESSERS_KEPT:
            del self._spent[next(iter(self._spent))]
        return max(0, math.floor(self.burst - spent))


@dataclass
class Guard:
    """The HTTP API's caps and budgets, and what they refused (read by /metrics)."""

    streams: Caps = field(default_factory=lambda: Caps(STREAMS_TOTAL, STREAMS_PER_ADDRESS))
    guesses: GuessBudget = field(default_factory=GuessBudget)
    wrong_tokens: int = 0
    tokens_refused: int = 0  # requests not checked: their address had guessed too often
    streams_refused: Counter[str] = field(default_factory=Counter)  # by the cap that refused
    streams_dropped: int = 0  # streams whose page stopped reading
