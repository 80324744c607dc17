"""A browser's identification string (User-Agent) as a person reads it: "Chrome on
Android", "Safari on iPhone". A small table, not a parser of every browser ever made:
staff phones are a handful of common browsers; anything else is shown cut short."""

from __future__ import annotations

__all__ = ["SHOWN_CHARACTERS", "browser_name"]

SHOWN_CHARACTERS = 40  # of a string the tables do not recognise

# First match wins: browsers built on Chrome or Safari name those too, so they come first.
_BROWSERS = (
    ("EdgA/", "Edge"), ("EdgiOS/", "Edge"), ("Edg/", "Edge"), ("OPR/", "Opera"),
    ("YaBrowser/", "Yandex Browser"), ("SamsungBrowser/", "Samsung Internet"),
    ("FxiOS/", "Firefox"), ("Firefox/", "Firefox"), ("CriOS/", "Chrome"),
    ("Chrome/", "Chrome"), ("Chromium/", "Chromium"), ("Version/", "Safari"),
)  # fmt: skip
_SYSTEMS = (
    ("iPhone", "iPhone"), ("iPad", "iPad"), ("Android", "Android"), ("Windows", "Windows"),
    ("CrOS", "ChromeOS"), ("Macintosh", "Mac"), ("Linux", "Linux"),
)  # fmt: skip


def browser_name(agent: str | None) -> str:
    """'Chrome on Android'; a string it does not know, its first SHOWN_CHARACTERS."""
    agent = (agent or "").strip()
    browser = next((name for marker, name in _BROWSERS if marker in agent), None)
    system = next((name for marker, name in _SYSTEMS if marker in agent), None)
    if browser and system:
        return f"{browser} on {system}"
    if len(agent) > SHOWN_CHARACTERS:
        return agent[:SHOWN_CHARACTERS] + "…"
    return agent or "unknown browser"
