"""What every alert rule is made of: what it reads of a machine (`RuleInput`), its
verdict (`Check`), and its entry in the table (`RuleSpec`, makerwatch/alerts/rules)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from makerwatch.core.machine_status import MachineStatus
from makerwatch.core.site_config import Device, Rule, Site

__all__ = ["Check", "DeviceView", "RuleInput", "RuleSpec", "alert_id_of", "key_of"]


def alert_id_of(rule: str, device: str, key: str = "") -> str:
    """An alert's id: `<rule>-<device>`, or `<rule>-<device>-<key>` for a rule judged once
    per key (maintenance_due: each task)."""
    return f"{rule}-{device}-{key}" if key else f"{rule}-{device}"


def key_of(alert_id: str, rule: str, device: str) -> str:
    """The key in an alert's id ("" for a rule judged once a machine)."""
    return alert_id.removeprefix(f"{rule}-{device}-") if alert_id != f"{rule}-{device}" else ""


@dataclass
class DeviceView:
    """What the engine knows of one device, from its latest messages, and its own clock."""

    status: MachineStatus = field(default_factory=MachineStatus)
    known: bool = False
    now_ms: int = 0  # this machine's event time
    temp_c: float | None = None
    maintenance: dict[str, int] | None = None  # each task's due time, once counted
    timers: list[tuple[int, int, str, str]] = field(default_factory=list)  # (due, order, kind, key)

    @property
    def state(self) -> str | None:
        """None until a state message says: unknown is not "off"."""
        return self.status.state


@dataclass(frozen=True)
class Check:
    """One rule's verdict for one device: whether it holds, why, for how long (s), and
    for the alert's text when the machine was switched on and the site closed."""

    holds: bool
    reason: str = ""
    seconds: float = 0.0
    due_ms: int | None = None  # when the verdict can next change on the device's clock
    since_ms: int = 0  # a wall-clock rule (no_data): when the condition began to hold
    on_since_ms: int | None = None
    closed_ms: int | None = None


@dataclass(frozen=True)
class RuleInput:
    """One rule's settings and one machine, as the engine knows them when it asks."""

    rule: Rule
    device: Device
    view: DeviceView
    site: Site
    active: bool  # the rule's alert for this machine is active
    live_ms: int | None  # the wall clock the service ticks (None before it listens)
    listening_since_ms: int | None  # when the server last started listening
    key: str = ""  # a rule judged per key: which one (maintenance_due: the task)


@dataclass(frozen=True)
class RuleSpec:
    """One alert rule: how it judges a machine, from what, and the text keys of its
    reasons (alerts/texts.py). The settings it reads are its fields of the site file's
    `Rule` (core/site_config.py)."""

    check: Callable[[RuleInput], Check]
    # Measurements whose points change its inputs; time is the timers' job.
    fed_by: frozenset[str]
    reasons: tuple[str, ...]
    # Judged on the wall clock the service ticks, not the machine's own (delivery, not
    # the machine): evaluated on every tick and before anything is heard, fired at `since_ms`.
    wall_clock: bool = False
    # Nothing to go on until the board says its state.
    needs_state: bool = False
    # Told again every `repeat_every_min` while it holds (maintenance is told once).
    repeats: bool = True
    # Judged once per key the machine's view gives (maintenance_due: each task counted),
    # an alert each; None: once a machine.
    keys: Callable[[DeviceView], Iterable[str]] | None = None
