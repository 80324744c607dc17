"""The system's own programs Makerwatch runs (Mosquitto, InfluxDB and their tools)."""

from __future__ import annotations

import shutil

from makerwatch.core.errors import MakerwatchError, ToolError

__all__ = ["system_tool"]

# Debian puts daemons in /usr/sbin, which a normal user's PATH may leave out.
SYSTEM_PATH = "/usr/bin:/usr/sbin"


def system_tool(
    executable: str, debian_package: str, error: type[MakerwatchError] = ToolError
) -> str:
    """The program's path, or `error` saying which package to install."""
    found = shutil.which(executable) or shutil.which(executable, path=SYSTEM_PATH)
    if found is None:
        raise error(f"{executable} not found: install it with `apt-get install {debian_package}`")
    return found
