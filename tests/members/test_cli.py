"""`makerwatch members` as staff use it, against the SQLite file a running ingest reads."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from makerwatch.core.cards import card_key, parse_uid
from makerwatch.members.store import FILE_NAME, MembersStore
from tests.support import ROOT

EXAMPLE = ROOT / "makerspace.example.yaml"
SECRET = "test-card-secret-0123456789abcdef-0123"
UIDS = ("04:A3:2B:1C", "04A32B1C5D6E80", "DE:AD:BE:EF")


def makerwatch(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "makerwatch.cli", "members", *args, "--data", str(tmp_path / "var"),
         "--config", str(EXAMPLE)],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip


@pytest.fixture
def secrets(tmp_path: Path) -> Path:
    path = tmp_path / "board-secrets.yaml"
    path.write_text(f"card_secret: {SECRET}\n", encoding="utf-8")
    return path


def store(tmp_path: Path) -> MembersStore:
    return MembersStore(tmp_path / "var" / FILE_NAME)


def test_add_train_list_untrain_and_forget(tmp_path: Path, secrets: Path) -> None:
    """Test that a member added with a card is trained, listed, untrained and forgotten for good."""
    added = makerwatch(
        tmp_path, "add", "Aigerim Serikova", "--card", UIDS[0], "--email", "a@example.kz"
    )
    assert added.returncode == 0, added.stderr
    assert "member 1: Aigerim Serikova (1 card(s))" in added.stdout
    trained = makerwatch(
        tmp_path, "train", "Aigerim Serikova", "laser_cutter", "--until", "2027-06-30"
    )
    assert trained.returncode == 0, trained.stderr
    listed = makerwatch(tmp_path, "list")
    assert "Aigerim S." in listed.stdout
    assert "laser_cutter (until 2027-06-30)" in listed.stdout
    key = card_key(SECRET, parse_uid(UIDS[0]))
    assert store(tmp_path).short_names() == {key: "Aigerim S."}
    assert makerwatch(tmp_path, "untrain", "1", "laser_cutter").returncode == 0
    assert store(tmp_path).members()[0].training == ()
    forgotten = makerwatch(tmp_path, "forget", "1")
    assert forgotten.returncode == 0, forgotten.stderr
    raw = b"".join(p.read_bytes() for p in (tmp_path / "var").iterdir() if p.is_file())
    assert b"Aigerim" not in raw
    assert key.encode() not in raw
    assert b"a@example.kz" not in raw


def test_import_a_member_list_with_training_columns(tmp_path: Path, secrets: Path) -> None:
    """Test that a CSV member list adds each member with their card key and training, never the UID."""
    (tmp_path / "members.csv").write_text(
        "Name,Card,laser_cutter,solder-1,staff\n"
        f"Aigerim Serikova,{UIDS[0]},2027-01-31,,no\n"
        f"Dmitry Ivanov,{UIDS[1]},yes,yes,\n"
        f"Staff Person,{UIDS[2]},,,yes\n",
        encoding="utf-8",
    )
    done = makerwatch(tmp_path, "import", "members.csv")
    assert done.returncode == 0, done.stderr
    assert "added 3 member(s)" in done.stdout
    members = store(tmp_path).members()
    assert [m.short for m in members] == ["Aigerim S.", "Dmitry I.", "Staff P."]
    assert [m.staff for m in members] == [False, False, True]
    assert {t.machine for t in members[1].training} == {"laser_cutter", "solder-1"}
    with sqlite3.connect(tmp_path / "var" / FILE_NAME) as db:
        dump = "\n".join(db.iterdump()).upper()
    for uid in UIDS:
        assert uid.replace(":", "") not in dump.replace(":", "")


@pytest.mark.parametrize(
    ("csv", "says"),
    [
        ("Card\n04:A3:2B:1C\n", "no 'name' column"),
        ("Name,Card\nA B,04:A3\n", "members.csv, row 2: a card UID is 4, 7 or 10 bytes, not 2"),
        ("Name,Card\nA B,zz\n", "members.csv, row 2: a card UID is hex digits"),
        ("Name,lazer\nA B,yes\n", "column 'lazer' is not a machine kind or device"),
        ("Name,laser_cutter\nA B,soon\n", "row 2: 'soon' is neither yes nor a date"),
        ("Name,Card\nA B,04:A3:2B:1C\nC D,04a32b1c\n", "row 3: the same card is on another row"),
    ],
    ids=["no-name", "short-uid", "not-hex", "unknown-machine", "bad-expiry", "same-card"],
)
def test_a_bad_member_list_is_one_line_naming_the_row(
    tmp_path: Path, secrets: Path, csv: str, says: str
) -> None:
    """Test that a mistake in the member list is one line naming the row, and nothing is added."""
    (tmp_path / "members.csv").write_text(csv, encoding="utf-8")
    done = makerwatch(tmp_path, "import", "members.csv")
    assert done.returncode == 1
    assert says in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "04A32B1C" not in done.stderr.upper().replace(":", "")
    assert store(tmp_path).members() == []


def test_a_card_without_a_secret_is_refused(tmp_path: Path) -> None:
    """Test that a UID cannot be added without the boards' card secret to key it with,
    and the line says where the secret goes."""
    done = makerwatch(tmp_path, "add", "A B", "--card", UIDS[0])
    assert done.returncode == 1
    assert "board-secrets.yaml: no such file; copy board-secrets.example.yaml" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr


@pytest.mark.parametrize(
    ("secret", "says"),
    [
        ("change-me-to-32-or-more-random-characters", "card_secret is still the example's"),
        ("too-short", "card_secret has 9 characters, not the 32 or more"),
    ],
    ids=["placeholder", "short"],
)
def test_a_secret_no_board_would_take_is_refused_naming_the_file(
    tmp_path: Path, secret: str, says: str
) -> None:
    """Test that the example's placeholder or a short card secret is refused before any
    card is keyed with it (the boards' build refuses both, and UIDs are not kept)."""
    (tmp_path / "board-secrets.yaml").write_text(f"card_secret: {secret}\n", encoding="utf-8")
    done = makerwatch(tmp_path, "add", "A B", "--card", UIDS[0])
    assert done.returncode == 1
    assert f"board-secrets.yaml: {says}" in done.stderr, done.stderr
    assert store(tmp_path).members() == []


def test_a_member_list_saved_in_a_windows_code_page_says_so(tmp_path: Path, secrets: Path) -> None:
    """Test that a CSV Excel saved as Windows-1251 is one line asking for CSV UTF-8."""
    (tmp_path / "members.csv").write_bytes("name,card\nОльга Ким,04:A3:2B:1C\n".encode("cp1251"))
    done = makerwatch(tmp_path, "import", "members.csv")
    assert done.returncode == 1
    assert 'members.csv: not UTF-8 text (byte 10); save it as "CSV UTF-8"' in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_a_card_already_a_members_names_the_file_row_and_member(
    tmp_path: Path, secrets: Path
) -> None:
    """Test that importing a card someone already has names the file, the row and whose it is."""
    assert makerwatch(tmp_path, "add", "Aigerim Serikova", "--card", UIDS[0]).returncode == 0
    (tmp_path / "members.csv").write_text(
        f"name,card\nДмитрий Иванов,{UIDS[0]}\n", encoding="utf-8"
    )
    done = makerwatch(tmp_path, "import", "members.csv")
    assert done.returncode == 1
    assert "members.csv, row 2: that card is already Aigerim S.'s" in done.stderr, done.stderr
    assert len(store(tmp_path).members()) == 1


def test_an_empty_list_says_how_to_add(tmp_path: Path) -> None:
    """Test that `members list` with no members says so and how to add some."""
    store(tmp_path).close()  # the store is there (an up made it), with nobody in it
    done = makerwatch(tmp_path, "list")
    assert done.returncode == 0, done.stderr
    assert "no members yet" in done.stdout
    assert "members add NAME" in done.stdout


def test_the_same_list_imported_twice_adds_nobody_twice(tmp_path: Path, secrets: Path) -> None:
    """Test that a member list imported again adds no member a second time, with or without a
    card (a member is known by name and e-mail), and says how many were already there."""
    (tmp_path / "members.csv").write_text(
        "name,email,card\n"
        f"Aigerim Serikova,a@example.kz,{UIDS[0]}\n"
        "Dmitry Ivanov,,\n"
        "Dana Akhmet,d@example.kz,\n",
        encoding="utf-8",
    )
    assert "added 3 member(s)" in makerwatch(tmp_path, "import", "members.csv").stdout
    again = makerwatch(tmp_path, "import", "members.csv")
    assert again.returncode == 0, again.stderr
    assert "added 0 member(s) from members.csv; 3 already there" in again.stdout
    assert [m.short for m in store(tmp_path).members()] == ["Aigerim S.", "Dmitry I.", "Dana A."]
    # The same name with another e-mail is another person.
    (tmp_path / "more.csv").write_text(
        "name,email\nDana Akhmet,dana@example.com\n", encoding="utf-8"
    )
    assert "added 1 member(s)" in makerwatch(tmp_path, "import", "more.csv").stdout


def test_a_forgotten_members_number_is_never_given_again(tmp_path: Path) -> None:
    """Test that the member added after the last one is forgotten gets a new number."""
    assert "member 1:" in makerwatch(tmp_path, "add", "Aigerim Serikova").stdout
    assert "member 2:" in makerwatch(tmp_path, "add", "Dmitry Ivanov").stdout
    assert makerwatch(tmp_path, "forget", "2").returncode == 0
    added = makerwatch(tmp_path, "add", "Dana Akhmet")
    assert "member 3: Dana Akhmet" in added.stdout, added.stdout
    assert [m.id for m in store(tmp_path).members()] == [1, 3]


@pytest.mark.parametrize("command", [("list",), ("train", "1", "laser_cutter"), ("forget", "1")])
def test_a_folder_without_a_members_store_is_refused(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    """Test that a mistyped --data is one line naming it, and no empty store is made there."""
    done = makerwatch(tmp_path, *command)
    assert done.returncode == 1
    assert done.stderr.strip() == (
        f"makerwatch: {tmp_path / 'var'}: no members store (members.sqlite) there: give --data "
        "the data folder of makerwatch up, or add the first member with members add"
    ), done.stderr
    assert not (tmp_path / "var").exists()


def test_uncard_takes_one_card_off_by_uid_or_by_key(tmp_path: Path, secrets: Path) -> None:
    """Test that `members uncard` takes one card off a member, given its UID or (lost) its
    key from `members list --keys`, and leaves their other card."""
    added = makerwatch(tmp_path, "add", "Aigerim Serikova", *("--card", UIDS[0]),
                       *("--card", UIDS[1]), *("--card", UIDS[2]))  # fmt: skip
    assert added.returncode == 0, added.stderr
    done = makerwatch(tmp_path, "uncard", "Aigerim Serikova", UIDS[0])
    assert done.stdout.strip() == "member 1: that card is taken off", done.stderr
    lost = card_key(SECRET, parse_uid(UIDS[1]))
    assert f"card {lost}" in makerwatch(tmp_path, "list", "--keys").stdout
    assert "taken off" in makerwatch(tmp_path, "uncard", "1", lost.upper()).stdout
    assert "had no such card" in makerwatch(tmp_path, "uncard", "1", UIDS[0]).stdout
    assert store(tmp_path).members()[0].keys == (card_key(SECRET, parse_uid(UIDS[2])),)
    bad = makerwatch(tmp_path, "uncard", "1", "04:A3")
    assert bad.returncode == 1
    assert bad.stderr.strip() == (
        "makerwatch: the card: a card UID is 4, 7 or 10 bytes, not 2, or a card key (32 hex digits)"
    )
