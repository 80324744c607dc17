"""The sponsor's logo and acknowledgement line, on /sponsors and in the report."""

from __future__ import annotations

import html
import io
import struct
import time
import zlib
from pathlib import Path

import pytest
import yaml
from pypdf import PdfReader

from makerwatch.core.errors import ConfigError
from makerwatch.core.site_config import load_site_config
from makerwatch.core.statistics import Statistics, statistics
from makerwatch.ingest.influx import InfluxClient
from makerwatch.ops.embedded import EmbeddedInfluxDB
from makerwatch.report import document, page
from tests.support import make_config

THANKS = {"en": "Bought with the Steppe Fund's grant.", "ru": "Куплено на грант фонда «Степь».",
          "kk": "«Дала» қорының грантына сатып алынды."}  # fmt: skip


def _png(width: int, height: int) -> bytes:
    """A real PNG (one colour), written out as the format says."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    rows = b"".join(b"\x00" + b"\x1c\x7c\x3c" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows))
            + chunk(b"IEND", b""))  # fmt: skip


def _site_file(folder: Path, influx_url: str, logo: str) -> Path:
    site = make_config(1, influx_url).model_dump(mode="json", exclude_none=True)
    site["sponsors"] = [{"name": "Steppe Fund", "emails": ["a@fund.kz"], "logo": logo,
                         "thanks": THANKS}]  # fmt: skip
    site["smtp"] = {"host": "127.0.0.1", "sender": "reports@makerspace.kz"}
    path = folder / "site.yaml"
    path.write_text(yaml.safe_dump(site, allow_unicode=True), encoding="utf-8")
    return path


async def test_the_logo_next_to_the_site_file_and_the_thanks_are_on_the_page_and_in_the_pdf(
    influxdb: EmbeddedInfluxDB, tmp_path: Path
) -> None:
    """Test that a sponsor's logo file beside the site file is put inside /sponsors' page in
    each language, with the thanks line, and drawn in the PDF as an image."""
    (tmp_path / "steppe.png").write_bytes(_png(40, 20))
    config = load_site_config(_site_file(tmp_path, influxdb.url, "steppe.png"))
    async with InfluxClient(config.influxdb) as influx:
        await influx.ensure_database()
        now_ms = int(time.time() * 1000)
        stats = await statistics(influx.query, [config], "2026-11", now_ms)

    async def figures(_period: str | None, _simulated: bool) -> Statistics:
        return stats

    for language in ("en", "ru", "kk"):
        answer = await page.answer({"period": "2026-11", "lang": language}, "", figures, now_ms)
        body = html.unescape(answer.body.decode())
        assert 'alt="Steppe Fund"' in body
        assert 'src="data:image/png;base64,' in body
        assert THANKS[language] in body
    pdf = PdfReader(io.BytesIO(document.pdf_bytes(document.html(stats, "ru"))))
    assert [image.name for image in pdf.pages[0].images], "no logo drawn on page 1"
    assert "Куплено на грант" in pdf.pages[0].extract_text()


def test_a_missing_logo_is_one_line_naming_the_sponsor(tmp_path: Path) -> None:
    """Test that a logo file that is not there, or not an image, is refused at start-up
    in one line naming the site file, the sponsor's key and the file."""
    path = _site_file(tmp_path, "http://127.0.0.1:8086", "steppe.png")
    with pytest.raises(
        ConfigError, match=r"site.yaml: sponsors\[0\].logo: steppe.png: no such file"
    ):
        load_site_config(path)
    path = _site_file(tmp_path, "http://127.0.0.1:8086", "steppe.gif")
    with pytest.raises(ConfigError, match=r"steppe.gif: expected a PNG, JPEG or SVG file"):
        load_site_config(path)
