"""The notification policy against a real HTTP endpoint (apprise's json://): safety first,
the least important dropped first and counted, an alert's news coalesced into one message
with its latest state, alerts taking turns, the rate limit held."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from makerwatch.alerts.notifier import Notification, Notifier
from makerwatch.core.site_config import Channel, Severity
from tests.alerts.conftest import Receiver
from tests.support import wait_until


def note(text: str, severity: Severity, key: str | None = None) -> Notification:
    return Notification("left_on", "Makerwatch", lambda _language: text, severity, key)


def holds(alert_id: str, text: str, severity: Severity = Severity.SAFETY) -> Notification:
    """A firing or repeat, as the alert service builds it: the alert holds, with its actions."""
    return Notification("left_on", "Makerwatch", lambda _language: text, severity,
                        alert_id=alert_id, about=alert_id)  # fmt: skip


def news(alert_id: str, text: str, severity: Severity) -> Notification:
    """Other news of an alert (resolved, acknowledged): nothing to act on."""
    return Notification("left_on", "Makerwatch", lambda _language: text, severity, about=alert_id)


async def test_a_safety_alert_overtakes_ten_thousand_others_and_the_rate_holds(
    receiver: Receiver,
) -> None:
    """Test that with 10,000 normal and info notifications queued, a left-on alert is the next
    delivered, the outbox drops the least important first and counts them by severity, and
    deliveries never exceed the channel's rate."""
    per_minute = 600.0  # 10 a second: the test's own channel
    channel = Channel(name="staff", url=receiver.url("staff"), max_per_minute=per_minute)
    notifier = Notifier([channel], "ru", outbox_size=100)
    for i in range(10_000):
        notifier.send(note(f"normal {i}", Severity.INFO if i % 2 else Severity.NORMAL))
    notifier.start()
    try:
        await wait_until(lambda: len(receiver.on("staff")) >= 3, "the first deliveries")
        notifier.send(note("the iron is left on", Severity.SAFETY))
        sent_before = len(receiver.on("staff"))
        await wait_until(
            lambda: any(b["message"] == "the iron is left on" for b in receiver.on("staff")),
            "the safety alert",
        )
        order = [b["message"] for b in receiver.on("staff")]
        assert order.index("the iron is left on") <= sent_before + 1, (
            "next, or after the one in flight"
        )
        assert notifier.dropped_by_severity[("staff", "info")] == 5_000
        assert notifier.dropped_by_severity[("staff", "normal")] == 10_000 - 5_000 - 100
        assert ("staff", "safety") not in notifier.dropped_by_severity
        assert all(m.startswith("normal") for m in order if m != "the iron is left on")
        assert [int(m.split()[1]) % 2 for m in order if m.startswith("normal")] == [0] * (
            len(order) - 1
        ), "normal ones kept, info ones dropped first"
    finally:
        await notifier.close(drain_s=0)
    # The rate, not each gap: a loaded machine may deliver one late and the next on
    # time, but n deliveries can never take less than n - 1 intervals (one of slack
    # for when the first and last were seen).
    times = receiver.times("staff")
    assert len(times) >= 4
    assert times[-1] - times[0] >= (len(times) - 2) * 60.0 / per_minute, (
        "never faster than the channel's rate"
    )


async def test_waiting_repeats_of_an_alert_are_one_message(receiver: Receiver) -> None:
    """Test that repeats of one alert queued while the channel waits become one message, the newest."""
    channel = Channel(name="staff", url=receiver.url("staff"), max_per_minute=60)
    notifier = Notifier([channel], "ru")
    for i in range(48):
        notifier.send(note(f"repeat {i}", Severity.SAFETY, key="left_on-solder-1/repeat"))
    notifier.send(note("other", Severity.NORMAL))
    notifier.start()
    started = time.monotonic()
    try:
        await wait_until(lambda: len(receiver.on("staff")) == 2, "two messages")
        assert [b["message"] for b in receiver.on("staff")] == ["repeat 47", "other"]
        assert time.monotonic() - started < 10
    finally:
        await notifier.close()


async def test_closing_sends_what_still_waits(receiver: Receiver) -> None:
    """Test that a shutdown first sends the notifications still waiting for their turn."""
    channel = Channel(name="staff", url=receiver.url("staff"), max_per_minute=120)
    notifier = Notifier([channel], "ru")
    notifier.start()
    for text in ("left on", "resolved", "back"):
        notifier.send(note(text, Severity.NORMAL))
    await notifier.close()
    assert [b["message"] for b in receiver.on("staff")] == ["left on", "resolved", "back"]


async def test_an_alerts_waiting_news_is_one_message_with_its_latest_state(
    receiver: Receiver,
) -> None:
    """Test that each alert's notifications queued while the channel waits become one
    message: the latest, after the unsent firing when the latest no longer says it holds."""
    channel = Channel(name="staff", url=receiver.url("staff"), max_per_minute=600)
    notifier = Notifier([channel], "ru")
    for notification in (
        holds("a", "a is on"), news("a", "a resolved", Severity.INFO),
        holds("b", "b is on"), news("b", "b taken by Aigerim", Severity.SAFETY),
        holds("b", "b is on again"),
        news("c", "c resolved", Severity.INFO),
        holds("d", "d is on"), news("d", "d taken by Daulet", Severity.SAFETY),
        news("d", "d switched off", Severity.NORMAL),
    ):  # fmt: skip
        notifier.send(notification)
    assert notifier.waiting() == {"staff": 4}
    notifier.start()
    await notifier.close()
    assert [b["message"] for b in receiver.on("staff")] == [
        "a is on\n\na resolved",
        "b is on again",
        "d is on\n\nd switched off",
        "c resolved",  # an all-clear alone ranks as info: after the safety ones
    ]
    assert notifier.coalesced == {"staff": 5}


async def test_an_alert_just_sent_lets_another_alert_go_first(receiver: Receiver) -> None:
    """Test that alerts take turns: a safety alert that has just been sent waits for
    another machine's normal alert before its next message."""
    channel = Channel(name="staff", url=receiver.url("staff"), max_per_minute=120)
    notifier = Notifier([channel], "ru")
    notifier.send(holds("left_on-solder-1", "solder-1 is on"))
    notifier.send(holds("no_data-printer-1", "printer-1 is silent", Severity.NORMAL))
    notifier.start()
    try:
        await wait_until(lambda: len(receiver.on("staff")) >= 1, "the first message")
        notifier.send(holds("left_on-solder-1", "solder-1 is still on"))
    finally:
        await notifier.close()
    assert [b["message"] for b in receiver.on("staff")] == [
        "solder-1 is on",  # safety first in a round
        "printer-1 is silent",  # the next round: solder-1 has had its turn
        "solder-1 is still on",
    ]


async def test_in_quiet_hours_a_waiting_safety_message_takes_its_alerts_latest_state(
    receiver: Receiver,
) -> None:
    """Test that in quiet hours the all-clear of a safety alert still waiting joins its
    message, while other normal notifications stay quiet and are counted."""
    hour = datetime.now(UTC).hour
    quiet = f"{(hour - 1) % 24:02d}:00-{(hour + 2) % 24:02d}:00"  # now, in UTC
    channel = Channel(name="staff", url=receiver.url("staff"), max_per_minute=600,
                      quiet_hours=quiet)  # fmt: skip
    notifier = Notifier([channel], "ru", timezone="UTC")
    notifier.send(holds("left_on-solder-1", "solder-1 is on"))
    notifier.send(news("left_on-solder-1", "solder-1 resolved", Severity.INFO))
    notifier.send(note("printer-1 finished", Severity.NORMAL))
    notifier.start()
    await notifier.close()
    assert [b["message"] for b in receiver.on("staff")] == ["solder-1 is on\n\nsolder-1 resolved"]
    assert notifier.quiet == {"staff": 1}
