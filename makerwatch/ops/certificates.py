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


def make_certificates(directory: Path, hostnames: list[str], name: str = "server") -> Path:
    """ca.crt (give it to boards and clients), ca.key (keep it offline), and `name`.crt/.key
    for `hostnames` (the broker's server.crt; the HTTPS API's https.crt), signed by it."""
    if shutil.which("openssl") is None:
        raise ToolError("openssl not found: install it with `apt-get install openssl`")
    directory.mkdir(parents=True, exist_ok=True)
    if not (directory / "ca.crt").exists():
        _run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650", "-keyout", "ca.key",
             "-out", "ca.crt", "-subj", "/CN=Makerwatch site CA", cwd=directory)  # fmt: skip
    (directory / f"{name}.ext").write_text(
        "subjectAltName=" + ",".join(_san(h) for h in hostnames) + "\n"
        "extendedKeyUsage=serverAuth\n"  # phones refuse a server certificate without it
    )
    _run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr",
         "-subj", f"/CN={hostnames[0]}", cwd=directory)  # fmt: skip
    _run("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
         "-days", "825", "-out", f"{name}.crt", "-extfile", f"{name}.ext", cwd=directory)  # fmt: skip
    for key in ("ca.key", f"{name}.key"):
        (directory / key).chmod(0o600)
    return directory / "ca.crt"
