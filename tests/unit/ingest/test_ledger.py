"""The ledger file: round trip, crash leftovers, corruption."""

from __future__ import annotations

from pathlib import Path

import pytest

from arena.ingest.ledger import Ledger, LedgerEntry, LedgerError

PUBLISHED = LedgerEntry("a/b.png", 10, 123, "published", event_id="e1", uri="s3://i/s/a/b.png")
SKIPPED = LedgerEntry("huge.png", 99, 456, "skipped", reason="too big")


def test_entries_survive_a_reload(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "ledger.jsonl"
    Ledger(path).append([PUBLISHED, SKIPPED])

    again = Ledger(path)

    assert ("a/b.png", 10, 123) in again
    assert ("huge.png", 99, 456) in again
    assert ("a/b.png", 10, 124) not in again, "another mtime is another file version"
    assert len(again) == 2
    assert again.has_published("a/b.png")
    assert not again.has_published("huge.png")


def test_a_torn_last_line_from_a_crash_is_dropped_and_appends_continue(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    Ledger(path).append([PUBLISHED])
    with path.open("a") as f:
        f.write('{"path":"c.png","si')

    ledger = Ledger(path)
    assert len(ledger) == 1
    ledger.append([SKIPPED])

    assert len(Ledger(path)) == 2
    assert path.read_text().count("\n") == 2


def test_a_corrupt_line_in_the_middle_is_an_error_naming_the_line(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    Ledger(path).append([PUBLISHED])
    with path.open("a") as f:
        f.write('{"path": "x.png"}\n')
    with path.open("a") as f:
        f.write('{"path":"y.png","size":1,"mtime_ns":2,"status":"published"}\n')

    with pytest.raises(LedgerError, match="line 2"):
        Ledger(path)
