"""Simulated members tapping their cards in (docs/simulator.md, "Members").

A simulated site's members each have a card (a UID made from the seed, keyed as the
board keys it: core/cards.py) and training on some kinds of machine. Just before a
simulated machine with a card reader (`access: log|enforce`) is switched on, a
member trained on its kind taps in (`allowed`); now and then someone untrained tries
first (`refused`). `MemberTaps` sits between the boards and the publisher: it sends
each tap before the state that switches the machine on, as a board would, and keeps
the ground truth (every tap, and which member each session was theirs) that the
people figures are checked against.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field

from makerwatch.core.cards import card_key
from makerwatch.core.protocol import AccessMode, MachineState, TapResult, message_kind
from makerwatch.core.site_config import SiteConfig
from makerwatch.sim.publisher import MqttPublisher

__all__ = ["MemberTaps", "PeopleTruth", "SimMember", "SimSession", "SimTap", "TappingPublisher",
           "ground_truth", "simulated_members"]  # fmt: skip

TAP_BEFORE_ON_MS = 5_000  # the card, then the switch
REFUSED_BEFORE_ON_MS = 30_000  # someone untrained tries first, half a minute before
REFUSED_SHARE = 0.15
_TAP = message_kind("tap")


@dataclass(frozen=True)
class SimMember:
    name: str
    key: str  # keyed as the board keys it; the UID itself is not kept
    trained: frozenset[str]  # machine kinds


@dataclass(frozen=True)
class SimTap:
    device: str
    kind: str
    at_ms: int
    key: str
    result: TapResult


@dataclass
class SimSession:
    device: str
    key: str
    start_ms: int
    end_ms: int | None = None


def simulated_members(
    secret: str, trained: dict[str, int], untrained: int, seed: int
) -> list[SimMember]:
    """`trained[kind]` members trained on each kind, plus `untrained` with no training;
    their cards' UIDs come from the seed (7 bytes, as most cards have)."""
    rng = random.Random(f"{seed}:members")
    members = []
    for kind, count in [*trained.items(), ("", untrained)]:
        for n in range(count):
            uid = bytes(rng.randrange(256) for _ in range(7))
            members.append(SimMember(f"{kind or 'visitor'} {n + 1}", card_key(secret, uid),
                                     frozenset({kind}) if kind else frozenset()))  # fmt: skip
    return members


@dataclass
class MemberTaps:
    """The taps of a site's members, made as its machines switch on, and what they were."""

    config: SiteConfig
    members: list[SimMember]
    seed: int
    taps: list[SimTap] = field(default_factory=list)
    sessions: list[SimSession] = field(default_factory=list)
    _seq: dict[str, int] = field(default_factory=dict)
    _open: dict[str, SimSession] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._rng = random.Random(f"{self.seed}:taps")

    def before(self, topic: str, payload: str) -> list[tuple[str, str]]:
        """The taps to send before this message of a board (none but before a switch-on)."""
        _, site, device_id, kind = topic.split("/", 3)
        device = self.config.device(device_id)
        if kind != "state" or device is None or device.access == AccessMode.OFF:
            return []
        body = json.loads(payload)
        at_ms = round(body["ts"] * 1000)
        if body.get("previous") != MachineState.OFF or body["state"] == MachineState.OFF:
            if body["state"] == MachineState.OFF and device_id in self._open:
                self._open.pop(device_id).end_ms = at_ms
            return []
        kind_name = device.kind.value
        sent = []
        untrained = [m for m in self.members if kind_name not in m.trained]
        if untrained and self._rng.random() < REFUSED_SHARE:
            who = self._rng.choice(untrained)
            sent.append(
                self._tap(
                    site, device_id, kind_name, at_ms - REFUSED_BEFORE_ON_MS, who, TapResult.REFUSED
                )
            )
        who = self._rng.choice([m for m in self.members if kind_name in m.trained])
        sent.append(
            self._tap(site, device_id, kind_name, at_ms - TAP_BEFORE_ON_MS, who, TapResult.ALLOWED)
        )
        session = self._open[device_id] = SimSession(device_id, who.key, at_ms)
        self.sessions.append(session)
        return sent

    def _tap(self, site: str, device: str, kind: str, at_ms: int, who: SimMember, result: TapResult) -> tuple[str, str]:  # fmt: skip
        self.taps.append(SimTap(device, kind, at_ms, who.key, result))
        seq = self._seq[device] = self._seq.get(device, 0) + 1
        access = self.config.device(device)
        mode = str(access.access) if access is not None else AccessMode.LOG.value
        body = {"v": 1, "ts": at_ms / 1000, "seq": seq, "key": who.key, "result": result.value,
                "mode": mode, "sim": True}  # fmt: skip
        return _TAP.topic(site, device), json.dumps(body)


class TappingPublisher(MqttPublisher):
    """The simulation's publisher, with members tapping in before machines switch on."""

    def __init__(self, host: str, port: int, client_id: str, taps: MemberTaps) -> None:
        super().__init__(host, port, client_id)
        self.member_taps = taps

    def __call__(self, topic: str, payload: str, retain: bool) -> None:
        for tap_topic, tap in self.member_taps.before(topic, payload):
            super().__call__(tap_topic, tap, False)
        super().__call__(topic, payload, retain)


@dataclass(frozen=True)
class PeopleTruth:
    """What the simulated members did in a period, before any count is suppressed."""

    served: set[str]
    new: set[str]
    per_kind: dict[str, set[str]]
    hours: dict[str, float]  # member key -> hours of the sessions they opened
    refused_taps: int


def ground_truth(taps: MemberTaps, start_ms: int, end_ms: int) -> PeopleTruth:
    """The people figures' ground truth for [start_ms, end_ms): taps in it, and sessions
    that started in it (ended ones: an open session is not yet a session)."""
    allowed = [t for t in taps.taps if t.result is TapResult.ALLOWED]
    served = {t.key for t in allowed if start_ms <= t.at_ms < end_ms}
    earlier = {t.key for t in allowed if t.at_ms < start_ms}
    per_kind: dict[str, set[str]] = {}
    for tap in allowed:
        if start_ms <= tap.at_ms < end_ms:
            per_kind.setdefault(tap.kind, set()).add(tap.key)
    hours: dict[str, float] = {}
    for s in taps.sessions:  # the hours of the members served (not a staff card's)
        if s.end_ms is not None and start_ms <= s.start_ms < end_ms and s.key in served:
            hours[s.key] = hours.get(s.key, 0.0) + (s.end_ms - s.start_ms) / 3_600_000
    refused = sum(
        1 for t in taps.taps if t.result is TapResult.REFUSED and start_ms <= t.at_ms < end_ms
    )
    return PeopleTruth(served, served - earlier, per_kind, hours, refused)
