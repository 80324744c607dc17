"""A phone's browser identification as `staff list` shows it."""

from __future__ import annotations

import pytest

from makerwatch.core.browser import SHOWN_CHARACTERS, browser_name


@pytest.mark.parametrize(
    ("agent", "shown"),
    [
        ("Mozilla/5.0 (Linux; Android 14; SM-A546E) AppleWebKit/537.36 (KHTML, like Gecko) "
         "Chrome/131.0.6778.104 Mobile Safari/537.36", "Chrome on Android"),
        ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
         "like Gecko) Version/17.5 Mobile/15E148 Safari/604.1", "Safari on iPhone"),
        ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
         "like Gecko) CriOS/126.0.6478.54 Mobile/15E148 Safari/604.1", "Chrome on iPhone"),
        ("Mozilla/5.0 (Linux; Android 13; SM-S911B) AppleWebKit/537.36 (KHTML, like Gecko) "
         "SamsungBrowser/25.0 Chrome/121.0.0.0 Mobile Safari/537.36", "Samsung Internet on Android"),
        ("Mozilla/5.0 (Linux; Android 12) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 "
         "YaBrowser/24.4.1.99.00 SA/3 Mobile Safari/537.36", "Yandex Browser on Android"),
        ("Mozilla/5.0 (Android 14; Mobile; rv:127.0) Gecko/127.0 Firefox/127.0", "Firefox on Android"),
        ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
         "Chrome/126.0.0.0 Safari/537.36 Edg/126.0.2592.68", "Edge on Windows"),
    ],
)  # fmt: skip
def test_common_phone_browsers_read_as_words(agent: str, shown: str) -> None:
    """Test that the browsers staff phones run read as "<browser> on <system>"."""
    assert browser_name(agent) == shown


def test_an_unknown_string_is_cut_short_and_none_says_so() -> None:
    """Test that a string the tables do not know shows its first characters only."""
    agent = "curl/8.5.0 (a script that signed in with an invite link, very long)"
    assert browser_name(agent) == agent[:SHOWN_CHARACTERS] + "…"
    assert browser_name("curl/8.5.0") == "curl/8.5.0"
    assert browser_name(None) == "unknown browser"
