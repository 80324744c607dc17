"""The floor board's layout: which machines it shows, in which groups and order, from
the site file's `board:` section (default: every machine, grouped by kind, by name),
and what it may offer: switch-off only where it can work, sign-in only where staff
exist."""

from __future__ import annotations

import re
from typing import Any

from makerwatch.core.site_config import LANGUAGES, MachineKind, SiteConfig, may_switch_off
from makerwatch.core.vocabulary import KIND_NAMES

__all__ = ["board_layout", "board_settings"]


def board_settings(config: SiteConfig) -> dict[str, Any]:
    """What the page needs from the site file: its layout, the machines it may offer to
    switch off, whether anyone can sign in, and whether staff see members' names."""
    return {
        "layout": board_layout(config),
        "switch_off": [d.id for d in config.devices if may_switch_off(d)],
        "has_staff": bool(config.staff),
        "show_names": config.members.show_names,
    }


def board_layout(config: SiteConfig) -> list[dict[str, Any]]:
    """The groups the board shows, in order: each with its name in every language and
    its machines' ids in the order shown. Hidden machines are in none."""
    hidden = set(config.board.hidden)
    groups = [
        {
            "names": {language: group.name_in(language) for language in LANGUAGES},
            "devices": [d for d in group.devices if d not in hidden],
        }
        for group in config.board.groups
    ]
    placed = hidden.union(*(group.devices for group in config.board.groups))
    for kind in MachineKind:
        devices = [d for d in config.devices if d.kind is kind and d.id not in placed]
        # Sorted by name as a person reads numbers ("Printer 2" before "Printer 10").
        devices.sort(key=lambda d: _natural(d.default_name))
        groups.append({
            "names": {language: KIND_NAMES[kind][language] for language in LANGUAGES},
            "devices": [d.id for d in devices],
        })  # fmt: skip
    return [group for group in groups if group["devices"]]


def _natural(name: str) -> tuple[tuple[int, int | str], ...]:
    return tuple(
        (0, int(part)) if part.isdigit() else (1, part.casefold())
        for part in re.split(r"(\d+)", name)
        if part
    )
