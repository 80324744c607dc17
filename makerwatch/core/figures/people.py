"""People: how many members the machines served, counted over each site from the taps
and sessions InfluxDB holds (card keys only, never a name); docs/members.md "The
figures". Staff cards and refused taps are not members served."""

from __future__ import annotations

from makerwatch.core.figures.base import SiteFigure
from makerwatch.core.protocol import TAP_MEASUREMENT, TapResult

__all__ = ["ALLOWED", "FIGURES", "HOURS_BANDS", "SESSION_MEASUREMENT"]

SESSION_MEASUREMENT = "session"
# Hours at the machines per member in a period: [from, to) in hours, the last open.
HOURS_BANDS: tuple[tuple[float, float | None], ...] = ((0, 1), (1, 5), (5, 20), (20, None))
# A member served: their card's tap was allowed (not a staff card's, not refused).
ALLOWED = f"FROM {TAP_MEASUREMENT} WHERE result = '{TapResult.ALLOWED.value}'"


def _members(key: str) -> str:
    """Distinct card keys with an allowed tap, as a column named `key`."""
    return f'SELECT count(distinct("key")) AS {key} {ALLOWED} AND {{where}}{{group_by}}'


FIGURES = (
    SiteFigure(
        "members",
        {"en": "Members served", "ru": "Обслужено участников", "kk": "Қызмет көрсетілген қатысушылар"},
        "Distinct member cards with an allowed tap in the period.",
        _members("members"),
    ),
    SiteFigure(
        "new_members",
        {"en": "New members", "ru": "Новые участники", "kk": "Жаңа қатысушылар"},
        "Members served whose first allowed tap at the site is in the period.",
        _members("new_members"),
        new_only=True,
    ),
    SiteFigure(
        "members_by_kind",
        {"en": "Members by kind of machine", "ru": "Участники по видам оборудования",
         "kk": "Жабдық түрі бойынша қатысушылар"},
        "Members served at machines of each kind (a member may count at several kinds).",
        _members("members_by_kind"),
        group="kind",
    ),
    SiteFigure(
        "hours_bands",
        {"en": "Members by hours at the machines", "ru": "Участники по часам работы на оборудовании",
         "kk": "Жабдықта жұмыс сағаттары бойынша қатысушылар"},
        "Members served, by the hours of the sessions they opened in the period.",
        None,
        group="band",
    ),
    SiteFigure(
        "refused_taps",
        {"en": "Refused cards", "ru": "Отклонённые карты", "kk": "Қабылданбаған карталар"},
        "Taps the board refused (an untrained member or an unknown card).",
        f"SELECT count(\"key\") AS refused_taps FROM {TAP_MEASUREMENT} "
        f"WHERE result = '{TapResult.REFUSED.value}' AND {{where}}{{group_by}}",
    ),
)  # fmt: skip
