"""Which files the watcher publishes, and when."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.ingest.conftest import NOW_NS, OLD_NS, Rig, write


def test_only_visible_image_files_are_published_whatever_the_case_of_the_extension(
    rig: Rig,
) -> None:
    for rel in ["a.png", "b.JPG", "c.jpeg", "d.webp", "e.BMP", "f.gif", "g.tif", "h.TIFF"]:
        write(rig.root, rel)
    for rel in ["notes.txt", "raw.dng", ".hidden.png", ".cache/inside.png", "png"]:
        write(rig.root, rel)

    rig.watcher().scan_once()

    assert sorted(rig.delivered_paths()) == [
        "a.png", "b.JPG", "c.jpeg", "d.webp", "e.BMP", "f.gif", "g.tif", "h.TIFF"
    ]  # fmt: skip


def test_files_in_subfolders_keep_their_relative_path_in_the_object_key(rig: Rig) -> None:
    write(rig.root, "2026-03-01/flight-2/IMG_0001.jpg", b"jpeg")

    rig.watcher().scan_once()

    assert rig.uploader.objects == {
        "drone-7/2026-03-01/flight-2/IMG_0001.jpg": (b"jpeg", "image/jpeg")
    }


def test_a_file_younger_than_the_settle_time_waits_for_a_later_scan(rig: Rig) -> None:
    write(rig.root, "fresh.png", mtime_ns=NOW_NS - 500_000_000)
    watcher = rig.watcher(settle_s=1.0)

    report = watcher.scan_once()
    assert rig.publisher.delivered == []
    assert report.unsettled == 1

    rig.now_ns += 1_000_000_000
    watcher.scan_once()
    assert rig.delivered_paths() == ["fresh.png"]


def test_a_file_that_changed_since_the_previous_scan_is_still_being_written(rig: Rig) -> None:
    path = write(rig.root, "slow.png", b"part", mtime_ns=NOW_NS)
    watcher = rig.watcher(settle_s=1.0)
    watcher.scan_once()  # too young

    # The writer stalls for longer than the settle time, then writes more.
    rig.now_ns += 5_000_000_000
    write(rig.root, "slow.png", b"part-and-the-rest", mtime_ns=rig.now_ns - 2_000_000_000)
    watcher.scan_once()
    assert rig.publisher.delivered == [], "size and mtime changed since the previous scan"

    watcher.scan_once()
    assert rig.delivered_paths() == ["slow.png"]
    assert rig.uploader.objects["drone-7/slow.png"][0] == path.read_bytes()


def test_a_file_appearing_after_the_first_scan_is_published_once_seen_unchanged(rig: Rig) -> None:
    watcher = rig.watcher()
    watcher.scan_once()
    write(rig.root, "copied-with-old-mtime.png")

    watcher.scan_once()
    assert rig.publisher.delivered == [], "never seen before: it may still be growing"
    watcher.scan_once()
    assert rig.delivered_paths() == ["copied-with-old-mtime.png"]


def test_files_are_published_oldest_first(rig: Rig) -> None:
    write(rig.root, "a.png", mtime_ns=OLD_NS)
    write(rig.root, "b.png", mtime_ns=OLD_NS - 3)
    write(rig.root, "c.png", mtime_ns=OLD_NS - 2)

    rig.watcher().scan_once()

    assert rig.delivered_paths() == ["b.png", "c.png", "a.png"]


def test_symlinks_are_never_followed_file_or_folder(rig: Rig, tmp_path_factory: Any) -> None:
    outside = tmp_path_factory.mktemp("outside")
    write(outside, "secret.png", b"private")
    write(outside, "folder/also.png", b"private")
    write(rig.root, "real.png", b"photo")
    (rig.root / "link.png").symlink_to(outside / "secret.png")
    (rig.root / "linked-folder").symlink_to(outside / "folder")

    rig.watcher().scan_once()

    assert rig.delivered_paths() == ["real.png"]
    assert all(data != b"private" for data, _ in rig.uploader.objects.values())


def test_the_ledger_is_never_written_through_a_symlink(rig: Rig, tmp_path_factory: Any) -> None:
    from arena.ingest.ledger import Ledger, LedgerError

    victim = tmp_path_factory.mktemp("victim") / "important.txt"
    victim.write_text("keep me\n")
    rig.ledger_path.symlink_to(victim)
    write(rig.root, "a.png")

    with pytest.raises(LedgerError, match="symbolic link"):
        Ledger(rig.ledger_path)
    assert victim.read_text() == "keep me\n"
