"""The API's TLS settings: one line naming them when they cannot be used."""

from __future__ import annotations

from pathlib import Path

import pytest

from makerwatch.api.http import server_tls
from makerwatch.core.errors import ConfigError
from makerwatch.ops.certificates import make_certificates


def test_the_certificate_and_key_load_together_or_say_which(tmp_path: Path) -> None:
    """Test that neither is plain HTTP, both load, one alone or a key that is not one is a
    one-line error naming the settings and files."""
    make_certificates(tmp_path, ["127.0.0.1"], name="https")
    cert, key = str(tmp_path / "https.crt"), str(tmp_path / "https.key")
    assert server_tls(None, None) is None
    assert server_tls(cert, key) is not None
    with pytest.raises(ConfigError, match="go together: set both"):
        server_tls(cert, None)
    with pytest.raises(ConfigError, match=f"http_keyfile {cert}: cannot load"):
        server_tls(cert, cert)
