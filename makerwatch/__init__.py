"""Makerwatch: live equipment telemetry for makerspaces."""

__version__ = "0.1.0"
