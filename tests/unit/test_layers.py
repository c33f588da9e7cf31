"""The tree stays layered: kernel (arena/) <- storage/ <- services <- entry points.

Run by ``make lint`` (and with the unit tests). Every import counts, including the ones
inside functions: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("scorer", "trainer", "evaluator")
ENTRY_POINTS = ("arena.cli", "arena.demo", "arena.api", "bench")


def _package_of(module: str) -> str:
    """The unit a module belongs to for layering: a service, an entry point, storage, kernel."""
    for entry in ENTRY_POINTS:
        if module == entry or module.startswith(entry + "."):
            return entry
    top = module.split(".")[0]
    if top in SERVICES or top == "storage":
        return top
    return "kernel" if top == "arena" else top


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports (absolute names; relative imports resolved)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    here = _module_name(path).split(".")
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here if is_package else here[:-1]
                base = base[: len(base) - (node.level - 1)]
                prefix = ".".join([*base, node.module] if node.module else base)
            else:
                prefix = node.module or ""
            found.add(prefix)
            found.update(f"{prefix}.{alias.name}" for alias in node.names)
    return found


def _sources(*tops: str) -> list[Path]:
    return sorted(p for top in tops for p in (ROOT / top).rglob("*.py"))


ALL = _sources("arena", "storage", *SERVICES, "bench")

# What each unit may not import.
FORBIDDEN: dict[str, set[str]] = {
    "kernel": {*SERVICES, *ENTRY_POINTS},
    "storage": {*SERVICES, *ENTRY_POINTS},
    **{s: {*(o for o in SERVICES if o != s), *ENTRY_POINTS} for s in SERVICES},
}


def violations(paths: list[Path]) -> list[str]:
    found = []
    for path in paths:
        unit = _package_of(_module_name(path))
        banned = FORBIDDEN.get(unit, set())
        for imported in sorted(_imports(path)):
            target = _package_of(imported)
            if target in banned:
                found.append(f"{path.relative_to(ROOT)} ({unit}) imports {imported} ({target})")
    return found


def test_the_tree_is_layered() -> None:
    assert ALL, "no sources found: the check would pass vacuously"
    problems = violations(ALL)
    assert not problems, "layering broken:\n" + "\n".join(problems)


@pytest.mark.parametrize(
    ("module", "source", "expected"),
    [
        ("evaluator/x.py", "from trainer.service import is_holdout\n", "imports trainer"),
        ("storage/x.py", "def f():\n    import scorer.app\n", "imports scorer.app"),
        ("arena/x.py", "from arena.demo.fleet import Fleet\n", "imports arena.demo.fleet"),
        ("arena/bus/x.py", "from ..cli import main\n", "imports arena.cli"),
    ],
)
def test_the_check_catches_a_broken_layer(
    tmp_path: Path, module: str, source: str, expected: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    path = tmp_path / module
    path.parent.mkdir(parents=True)
    path.write_text(source)
    problems = violations([path])
    assert any(expected in p for p in problems), problems


def test_entry_points_may_import_services(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    path = tmp_path / "arena" / "cli" / "x.py"
    path.parent.mkdir(parents=True)
    path.write_text("from scorer.app import run_scorer\nfrom storage.registry import Registry\n")
    assert violations([path]) == []
