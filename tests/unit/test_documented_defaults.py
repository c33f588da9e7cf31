"""docs/operations.md tells the truth about arena/config.py: every variable its tables list
exists, with the default they give, and every setting is documented."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from tests.unit.settings_catalogue import known_variables

DOC = Path(__file__).resolve().parents[2] / "docs" / "operations.md"
ROW = re.compile(r"^\|\s*`(ARENA_[A-Z0-9_]+)`\s*\|\s*([^|]*?)\s*\|")

# Defaults the tables describe in words, and what they mean in arena/config.py.
IN_WORDS: dict[str, Any] = {
    "unset": None,
    "empty": "",
    "none": (),  # an empty list
    "the image bucket": (),  # ARENA_IMAGES_BUCKETS: empty means the image bucket
    "`<hostname>-<pid>`": "",  # ARENA_SCORER_SCORER_ID: empty means <hostname>-<pid>
    "`~/.cache/arena`": Path.home() / ".cache" / "arena",
}


def documented() -> dict[str, str]:
    rows = {}
    for line in DOC.read_text().splitlines():
        match = ROW.match(line)
        if match:
            rows[match[1]] = match[2]
    return rows


def _as_config(text: str, actual: Any) -> Any:
    if text in IN_WORDS:
        return IN_WORDS[text]
    value = text.strip("`")
    if isinstance(actual, bool):
        return {"true": True, "false": False}[value]
    if isinstance(actual, int | float):
        return type(actual)(value)
    if isinstance(actual, tuple):
        return tuple(value.split(","))
    if isinstance(actual, Path):
        return Path(value)
    return value


def _plain(value: Any) -> Any:
    return value.get_secret_value() if isinstance(value, SecretStr) else value


def test_the_tables_parse() -> None:
    assert len(documented()) > 50  # the parser still finds the tables


def test_every_documented_default_is_the_configured_one() -> None:
    known = known_variables()
    rows = documented()
    unknown = sorted(set(rows) - set(known))
    assert not unknown, f"documented, but no such setting: {unknown}"
    wrong = {
        name: (text, _plain(known[name]))
        for name, text in rows.items()
        if _as_config(text, _plain(known[name])) != _plain(known[name])
    }
    assert not wrong, f"documented default != arena/config.py: {wrong}"


def test_every_setting_is_documented() -> None:
    missing = sorted(set(known_variables()) - set(documented()))
    assert not missing, f"settings missing from docs/operations.md: {missing}"
