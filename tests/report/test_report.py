"""`makerwatch report` and the sponsor page on a backfilled network: their figures, the
PDF, the languages."""

from __future__ import annotations

import asyncio
import csv
import html
import io
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from PIL import Image
from pypdf import PdfReader

from makerwatch.core.statistics import Statistics, statistics
from makerwatch.core.vocabulary import KIND_NAMES
from makerwatch.ingest.influx import InfluxClient
from makerwatch.ops.embedded import free_port
from makerwatch.report import document
from makerwatch.report.texts import TEXTS, Words
from tests.network import BackfilledNetwork, previous_month
from tests.support import start_ingest

pytestmark = pytest.mark.stack
MONTH = f"{previous_month():%Y-%m}"


def run_report(network: BackfilledNetwork, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "makerwatch.cli", "report", "--month", MONTH,
         "--config", str(network.network_file), "--include-simulated", *args],
        capture_output=True, text=True, timeout=120, env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip


def figures(network: BackfilledNetwork) -> Statistics:
    async def compute() -> Statistics:
        async with InfluxClient(network.configs[0].influxdb) as influx:
            return await statistics(
                influx.query, network.configs, MONTH, int(time.time() * 1000), simulated=True
            )

    return asyncio.run(compute())


def test_the_json_and_csv_hold_the_statistics_modules_figures(
    network: BackfilledNetwork, tmp_path: Path
) -> None:
    """Test that the report's JSON and CSV equal the figures computed by the module."""
    expected = figures(network)
    assert expected.total.machine_hours > 10, "the backfilled month had real use"
    result = run_report(network, "--all-sites", "--out", str(tmp_path / "r.json"))
    assert result.returncode == 0, result.stderr
    data = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    assert data == json.loads(
        json.dumps(document.as_dict(expected) | {"generated": data["generated"]})
    )
    assert data["total"]["machine_hours"] == pytest.approx(expected.total.machine_hours)
    assert set(data["by_site"]) == {c.site.id for c in network.configs}

    result = run_report(network, "--all-sites", "--format", "csv", "--out", str(tmp_path / "r.csv"))
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO((tmp_path / "r.csv").read_text(encoding="utf-8"))))
    machines = {(r["site"], r["device"]): r for r in rows if r["scope"] == "machine"}
    assert len(machines) == len(expected.machines)
    for m in expected.machines:
        row = machines[(m.site, m.device)]
        assert float(row["machine_hours"]) == pytest.approx(m.figures.machine_hours)
        assert int(row["sessions"]) == m.figures.sessions
        assert float(row["energy_kwh"]) == pytest.approx(m.figures.energy_kwh)
    [total] = [r for r in rows if r["scope"] == "total"]
    assert float(total["machine_hours"]) == pytest.approx(expected.total.machine_hours)
    assert float(total["utilisation"]) == pytest.approx(expected.total.utilisation)


def test_the_pdf_has_its_pages_a_picture_and_the_headline_figures(
    network: BackfilledNetwork, tmp_path: Path
) -> None:
    """Test that the network PDF has three pages, page 1 renders to a non-blank PNG, and its
    text holds the title and the headline figures as the report writes them."""
    out = tmp_path / "report.pdf"
    result = run_report(network, "--all-sites", "--format", "pdf", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert f"wrote {out}" in result.stdout
    assert len(PdfReader(out).pages) == 3
    subprocess.run(["pdftoppm", "-png", "-r", "50", "-f", "1", "-l", "1", "-singlefile",
                    str(out), str(tmp_path / "page1")], check=True, timeout=60)  # fmt: skip
    with Image.open(tmp_path / "page1.png") as page:
        colours = page.convert("L").getcolors(maxcolors=1 << 16) or []
    ink = sum(count for count, level in colours if level < 200)
    assert ink > 1000, "page 1 is blank"
    if pictures := os.environ.get("MAKERWATCH_DOC_PICTURES"):  # docs/report.md's picture
        subprocess.run(["pdftoppm", "-png", "-r", "70", "-f", "1", "-l", "1", "-singlefile",
                        str(out), str(Path(pictures) / "report-page1")], check=True, timeout=60)  # fmt: skip
    text = subprocess.run(["pdftotext", "-layout", str(out), "-"], capture_output=True,
                          text=True, check=True, timeout=60).stdout  # fmt: skip
    expected = figures(network)
    words = Words("en")
    assert "Machine use at Makerspaces of Kazakhstan" in text
    assert words.number(expected.total.machine_hours, 1) in text
    assert words.number(expected.total.sessions, 0) in text
    assert words.percent(expected.total.utilisation) in text


def _words(text: str) -> set[str]:
    return {w.lower() for w in re.findall(r"[^\W\d_]{4,}", re.sub(r"\{[^}]*\}", " ", text))}


@pytest.mark.parametrize("language", ["en", "ru", "kk"])
def test_every_language_renders_every_string(network: BackfilledNetwork, language: str) -> None:
    """Test that every text exists in the three languages, and that a report in one holds
    no word of the others' texts (names from the site files aside)."""
    strings = [*TEXTS.values(), *KIND_NAMES.values()]
    for texts in strings:
        assert set(texts) == {"en", "ru", "kk"}
        assert all(t.strip() for t in texts.values())
    own = set().union(*(_words(t[language]) for t in strings))  # type: ignore[index]
    names = set().union(*(_words(c.site.name) | set().union(*(_words(d.default_name) for d in c.devices))
                          for c in network.configs))  # fmt: skip
    foreign = set().union(*(_words(text) for t in strings for text in t.values())) - own - names
    page = document.html(figures(network), language)  # type: ignore[arg-type]
    visible = html.unescape(
        re.sub(r"<[^>]+>", " ", re.sub(r"<style.*?</style>", " ", page, flags=re.S))
    )
    untranslated = _words(visible) & foreign
    assert not untranslated, f"untranslated in the {language} report: {untranslated}"
    assert TEXTS["methods"][language] in visible  # type: ignore[index]


def test_a_network_file_needs_a_site_or_all_sites(network: BackfilledNetwork) -> None:
    """Test that a report on a network file without --site or --all-sites says what to add."""
    result = run_report(network)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert "--all-sites" in result.stderr
    one = run_report(
        network, "--site", network.configs[1].site.id, "--format", "json", "--out", os.devnull
    )
    assert one.returncode == 0, one.stderr


@pytest.mark.parametrize("period", ["2026-13", "last month", "2026-11-30..2026-11-01"])
def test_a_bad_period_is_one_line(network: BackfilledNetwork, period: str) -> None:
    """Test that a wrong --month is refused in one line naming the accepted forms."""
    result = subprocess.run(
        [sys.executable, "-m", "makerwatch.cli", "report", "--month", period,
         "--config", str(network.network_file), "--all-sites"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert "expected a month" in result.stderr


async def test_the_sponsor_page_shows_the_sites_figures_in_each_language(
    network: BackfilledNetwork,
) -> None:
    """Test that /sponsors shows the statistics module's figures for the site, in the
    language asked, with nothing operational, and refuses a bad period or language."""
    config = network.configs[0]
    port = free_port()
    config = config.model_copy(
        update={"ingest": config.ingest.model_copy(update={"http_port": port})}
    )
    expected = (await asyncio.to_thread(figures, network)).sites[0].total
    running = await start_ingest(config)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            for language in ("en", "ru", "kk"):
                page = await http.get(
                    "/sponsors", params={"period": MONTH, "lang": language, "simulated": "1"}
                )
                assert page.status_code == 200
                assert page.headers["content-type"].startswith("text/html")
                words = Words(language)  # type: ignore[arg-type]
                assert words.text("title", name=config.site.name) in page.text
                assert words.number(expected.machine_hours, 1) in page.text
                assert TEXTS["by_site"][language] not in page.text, "one site: no comparison"  # type: ignore[index]
                for operational in ("alert", "rssi", "firmware", "token"):
                    assert operational not in page.text.lower()
            this_month = await http.get("/sponsors")
            assert this_month.status_code == 200
            bad = await http.get("/sponsors", params={"period": "2026-13"})
            assert bad.status_code == 400
            assert "expected a month" in bad.json()["error"]
            assert (await http.get("/sponsors", params={"lang": "de"})).status_code == 400
    finally:
        await running.shutdown()
