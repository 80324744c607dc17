"""`makerwatch report` and the sponsor page on a backfilled network: their figures, the
PDF, the languages."""

from __future__ import annotations

import asyncio
import csv
import email
import email.policy
import html
import io
import json
import os
import re
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import yaml
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
    """Test that the network PDF has two pages (A4, filled), page 1 renders to a non-blank PNG, and its
    text holds the title and the headline figures as the report writes them."""
    out = tmp_path / "report.pdf"
    result = run_report(network, "--all-sites", "--format", "pdf", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert f"wrote {out}" in result.stdout
    assert len(PdfReader(out).pages) == 2
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


# A4 portrait with the report's margins (14 mm each side), in PDF points.
A4_WIDTH, A4_HEIGHT, SIDE_MARGIN = 595.28, 841.89, 14 / 25.4 * 72


def _pdf_words(pdf: Path) -> list[list[tuple[str, float, float, float, float]]]:
    """Each page's words with their boxes (x0, y0, x1, y1 in points), as pdftotext reads them."""
    bbox = subprocess.run(["pdftotext", "-bbox", str(pdf), "-"], capture_output=True,
                          text=True, check=True, timeout=60).stdout  # fmt: skip
    pages = []
    for page in re.findall(r"<page .*?</page>", bbox, flags=re.S):
        pages.append([
            (html.unescape(w), float(x0), float(y0), float(x1), float(y1))
            for x0, y0, x1, y1, w in re.findall(
                r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">(.*?)</word>', page
            )
        ])  # fmt: skip
    return pages


def _tokens(text: str) -> list[str]:
    """A cell's words as a PDF may break them: at spaces (no-break ones too) and after hyphens."""
    return [t for t in re.split(r"[\s\u00a0\u202f]+|(?<=-)", text) if t]


@pytest.mark.parametrize("language", ["kk", "ru", "en"])
def test_the_pdf_fits_a4_in_each_language(
    network: BackfilledNetwork, tmp_path: Path, language: str
) -> None:
    """Test that the month's network PDF in each language has every table cell whole and
    inside A4's printable width, at most three pages with none but the last half empty,
    and numbers in the language's own format in its tables and its charts."""
    out = tmp_path / f"report-{language}.pdf"
    result = run_report(
        network, "--all-sites", "--format", "pdf", "--lang", language, "--out", str(out)
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("\n") == 1, result.stdout
    assert result.stdout.startswith("wrote "), result.stdout
    assert "weasyprint" not in result.stderr, "WeasyPrint's warnings and steps only with -v"
    if pictures := os.environ.get("MAKERWATCH_REPORT_PDFS"):  # to look at them
        (Path(pictures) / out.name).write_bytes(out.read_bytes())
    pages = _pdf_words(out)
    assert 2 <= len(pages) <= 3
    for number, page in enumerate(pages[:-1], 1):
        lowest = max(y1 for *_, y1 in page)
        assert lowest > 0.75 * A4_HEIGHT, f"page {number} of {len(pages)} is half empty"
    every = [w for page in pages for w in page]
    right = A4_WIDTH - SIDE_MARGIN + 1
    outside = [w for w, x0, _, x1, _ in every if x1 > right or x0 < SIDE_MARGIN - 1]
    assert not outside, f"outside the printable width: {outside}"

    expected = figures(network)
    words = Words(language)  # type: ignore[arg-type]
    present = {t for w, *_ in every for t in _tokens(w)}
    cells = [TEXTS[k][language] for k in ("machine", "kind", "site", "machine_hours",  # type: ignore[index]
                                           "sessions", "energy_kwh", "utilisation")]  # fmt: skip
    for m in expected.top_machines(document.TOP_MACHINES):
        cells += [words.kind(m.kind), *document.cells(words, m.figures)]
    for figures_ in expected.by_kind.values():
        cells += document.cells(words, figures_)
    missing = {c for c in cells for t in _tokens(c) if t not in present}
    assert not missing, f"cut or missing in the {language} PDF: {missing}"
    # Charts included: the week bars' values, and no number in another language's format.
    for week in expected.weeks:
        if week.machine_hours:
            assert all(t in present for t in _tokens(words.number(week.machine_hours, 1)))
    text = " ".join(w for w, *_ in every)
    if language == "en":
        assert not re.search(r"\d,\d\b", text), "a decimal comma in the English PDF"
    else:
        assert not re.search(r"\d\.\d", text), f"a decimal point in the {language} PDF"
        assert not re.search(r"\d,\d{3}\b", text), f"a thousands comma in the {language} PDF"
    assert "`" not in text
    if expected.previous is None:
        earlier = document.period_label(expected, words, previous=True)
        no_base = re.sub(r"\s+", " ", words.text("no_base", previous=earlier))
        assert re.sub(r"\s+", " ", text).count(no_base) == 1, "one line: nothing to compare"


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
            # A browser gets a page in its reader's language, never JSON.
            for language in ("en", "ru", "kk"):
                bad = await http.get("/sponsors", params={"period": "2026-13", "lang": language},
                                     headers={"Accept": "text/html,*/*"})  # fmt: skip
                assert bad.status_code == 400
                assert bad.headers["content-type"].startswith("text/html")
                words = Words(language)  # type: ignore[arg-type]
                assert html.escape(words.text("this_month")) in bad.text
                assert "«2026-13»" in bad.text or "“2026-13”" in bad.text
            kk = await http.get("/sponsors", params={"lang": "xx"},
                                headers={"Accept": "text/html", "Accept-Language": "kk-KZ,ru;q=0.8"})  # fmt: skip
            assert kk.status_code == 400
            assert html.escape(Words("kk").text("bad_request")) in kk.text
            # Earlier and later, and the period's downloads, each answering.
            page = (
                await http.get(
                    "/sponsors", params={"period": MONTH, "lang": "ru", "simulated": "1"}
                )
            ).text
            links = {html.unescape(h) for h in re.findall(r'href="([^"]+)"', page)}
            month = previous_month()
            earlier = (month - timedelta(days=1)).strftime("%Y-%m")
            assert f"?period={earlier}&lang=ru&simulated=1" in links
            assert f"?period={datetime.now(UTC):%Y-%m}&lang=ru&simulated=1" in links
            for kind, content_type in (("pdf", "application/pdf"), ("csv", "text/csv"),
                                       ("json", "application/json")):  # fmt: skip
                href = f"?period={MONTH}&lang=ru&simulated=1&format={kind}"
                assert href in links
                download = await http.get("/sponsors" + href)
                assert download.status_code == 200
                assert download.headers["content-type"].startswith(content_type)
                assert f"{MONTH}.{kind}" in download.headers["content-disposition"]
            data = json.loads(
                (
                    await http.get(
                        "/sponsors", params={"period": MONTH, "simulated": "1", "format": "json"}
                    )
                ).text
            )
            assert data["total"]["machine_hours"] == pytest.approx(expected.machine_hours)
            this = await http.get("/sponsors", params={"lang": "en"})
            assert "Later" not in this.text, "no link to a month not begun"
    finally:
        await running.shutdown()


class Mailbox:
    """What a real SMTP server (aiosmtpd, on a local port) received."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], bytes]] = []

    async def handle_DATA(self, server: object, session: object, envelope: Any) -> str:
        self.messages.append((list(envelope.rcpt_tos), bytes(envelope.content)))
        return "250 OK"


def test_send_mails_each_sponsor_the_month_in_their_language(
    network: BackfilledNetwork, tmp_path: Path
) -> None:
    """Test that `report --send` mails the month's PDF to each sponsor through a real
    local SMTP server: the recipients, a subject in the sponsor's language, the PDF
    attachment (a readable PDF holding the thanks line), one line per delivery."""
    from aiosmtpd.controller import Controller

    mailbox = Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        site = network.configs[0].model_dump(mode="json", exclude_none=True)
        thanks = {"en": "Thanks to the Steppe Fund.", "ru": "Спасибо фонду «Степь».",
                  "kk": "«Дала» қорына рахмет."}  # fmt: skip
        site["smtp"] = {"host": "127.0.0.1", "port": port, "security": "none",
                        "sender": "reports@makerspace.kz"}  # fmt: skip
        site["sponsors"] = [
            {"name": "Steppe Fund", "language": "ru", "emails": ["a@fund.kz", "b@fund.kz"],
             "thanks": thanks},
            {"name": "Embassy", "language": "en", "emails": ["culture@embassy.example"]},
        ]  # fmt: skip
        path = tmp_path / "site.yaml"
        path.write_text(yaml.safe_dump(site, allow_unicode=True), encoding="utf-8")
        result = subprocess.run(
            [sys.executable, "-m", "makerwatch.cli", "report", "--month", MONTH,
             "--config", str(path), "--send"],
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip().splitlines()[-1].startswith(f"sent the {MONTH} report")
    finally:
        controller.stop()
    assert sorted(r for r, _ in mailbox.messages) == [
        ["a@fund.kz", "b@fund.kz"], ["culture@embassy.example"]
    ]  # fmt: skip
    month = previous_month()
    for recipients, raw in mailbox.messages:
        message = email.message_from_bytes(raw, policy=email.policy.default)
        language = "ru" if "a@fund.kz" in recipients else "en"
        words = Words(language)  # type: ignore[arg-type]
        assert str(message["Subject"]) == words.text(
            "mail_subject", name=network.configs[0].site.name, period=words.month(month)
        )
        [attachment] = list(message.iter_attachments())  # type: ignore[attr-defined]
        assert attachment.get_content_type() == "application/pdf"
        pdf = tmp_path / attachment.get_filename()
        pdf.write_bytes(attachment.get_content())
        text = " ".join(p.extract_text() for p in PdfReader(pdf).pages)
        assert words.text("title", name=network.configs[0].site.name).split(":")[0] in text
        if language == "ru":
            assert "Спасибо фонду" in re.sub(r"\s+", " ", text)


def test_the_monthly_schedule_is_due_once_on_each_first_day() -> None:
    """Test that, asked every 10 minutes through three months, the schedule answers the
    previous month once, on the first day in the site's time zone, and never otherwise."""
    from makerwatch.report.delivery import MonthlySchedule

    zone = ZoneInfo("Asia/Aqtobe")
    now = [datetime(2026, 11, 30, 12, 0, tzinfo=zone).timestamp()]
    schedule = MonthlySchedule("Asia/Aqtobe", lambda: now[0])
    fired = []
    while now[0] < datetime(2027, 2, 15, tzinfo=zone).timestamp():
        if (month := schedule.due()) is not None:
            fired.append((datetime.fromtimestamp(now[0], zone).date().isoformat(), month))
        now[0] += 600
    assert fired == [
        ("2026-12-01", "2026-11"),
        ("2027-01-01", "2026-12"),
        ("2027-02-01", "2027-01"),
    ]


async def test_a_sponsors_chat_gets_the_report_as_a_document(
    network: BackfilledNetwork,
) -> None:
    """Test that a sponsor with a chat gets the month's PDF through the site's bot: one
    sendDocument to that chat, a PDF file named for the month, a caption in their language."""
    from makerwatch.report.delivery import deliver
    from tests.alerts.bot_api import BotApi, serve

    api = BotApi("123456789:" + "A" * 30, free_port())
    runner = await serve(api)
    try:
        config = network.configs[0]
        bot = {"token": api.token, "chats": [-100200300], "api_url": api.url}
        config = type(config).model_validate(
            config.model_dump(mode="json", exclude_none=True)
            | {"alerts": {"telegram": bot},
               "sponsors": [{"name": "Dala", "language": "kk", "chat": -100999}]}
        )  # fmt: skip
        stats = await asyncio.to_thread(figures, network)
        stats = Statistics([stats.sites[0]], stats.period_label, stats.generated_ms)
        lines = await deliver(config, stats)
    finally:
        await runner.cleanup()
    assert api.mistakes == []
    [sent] = api.documents(-100999)
    assert lines == [f"Dala: {sent['document'].filename} to chat -100999"]
    assert sent["document"].filename.endswith(f"{MONTH}-kk.pdf")
    assert sent["document"].content.startswith(b"%PDF")
    words = Words("kk")
    assert sent["caption"] == words.text(
        "mail_subject", name=config.site.name, period=words.month(previous_month())
    )
