"""A site's own certificate authority and the broker's TLS certificate, made with openssl.

The same commands are in docs/operations.md ("Certificates") for doing it by hand.
"""

from __future__ import annotations

import ipaddress
import shutil
import subprocess
from pathlib import Path

from makerwatch.core.errors import ToolError

__all__ = ["make_certificates"]


def _run(*args: str, cwd: Path) -> None:
    result = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        raise ToolError(f"openssl {args[0]} failed in {cwd}: {result.stderr.strip()[-300:]}")


def _san(name: str) -> str:
    try:
        ipaddress.ip_address(name)
        return f"IP:{name}"
    except ValueError:
        return f"DNS:{name}"


def make_certificates(directory: Path, hostnames: list[str]) -> Path:
    """ca.crt (give it to boards and clients), ca.key (keep it offline), server.crt/.key."""
    if shutil.which("openssl") is None:
        raise ToolError("openssl not found: install it with `apt-get install openssl`")
    directory.mkdir(parents=True, exist_ok=True)
    if not (directory / "ca.crt").exists():
        _run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650", "-keyout", "ca.key",
             "-out", "ca.crt", "-subj", "/CN=Makerwatch site CA", cwd=directory)  # fmt: skip
    (directory / "san.ext").write_text(
        "subjectAltName=" + ",".join(_san(h) for h in hostnames) + "\n"
    )
    _run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
         "-subj", f"/CN={hostnames[0]}", cwd=directory)  # fmt: skip
    _run("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
         "-days", "825", "-out", "server.crt", "-extfile", "san.ext", cwd=directory)  # fmt: skip
    for key in ("ca.key", "server.key"):
        (directory / key).chmod(0o600)
    return directory / "ca.crt"
