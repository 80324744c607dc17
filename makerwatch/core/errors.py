"""The root of every error Makerwatch raises on purpose.

Each message is one line that says what failed and where (the file and key, the
topic and field, the URL, the program); the command line prints it as it is.
"""

from __future__ import annotations

__all__ = ["ConfigError", "MakerwatchError", "ToolError", "UnreachableError"]


class MakerwatchError(Exception):
    """Base of every error Makerwatch raises on purpose."""


class ConfigError(MakerwatchError):
    """The configuration cannot be used; the message says where and why."""


class ToolError(MakerwatchError):
    """An outside program (openssl, mosquitto_passwd, mpy-cross, mpremote) is missing or failed."""


class UnreachableError(MakerwatchError):
    """A service (the broker, InfluxDB) could not be reached; the message names the address."""
