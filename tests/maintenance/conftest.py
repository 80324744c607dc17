"""The notification stand-ins the alert tests use: a webhook receiver."""

from tests.alerts.conftest import receiver  # noqa: F401  (a fixture)
