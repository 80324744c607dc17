"""The stand-ins the alert tests use: a webhook receiver and Telegram's Bot API."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from makerwatch.ops.embedded import free_port
from tests.alerts.bot_api import BotApi, serve
from tests.alerts.conftest import receiver  # noqa: F401  (a fixture)

TOKEN = "123456789:AAE-makerwatch-test-token-0123"


@pytest.fixture
async def bot_api() -> AsyncIterator[BotApi]:
    api = BotApi(TOKEN, free_port())
    runner = await serve(api)
    yield api
    await runner.cleanup()
