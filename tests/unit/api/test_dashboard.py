"""The dashboard loads nothing from anywhere else: its script, style sheet and chart library
are served by the API itself, under a Content-Security-Policy that allows nothing more, and
they are package data (so an installed wheel serves them too)."""

from __future__ import annotations

import fnmatch
import hashlib
import re
import tomllib
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient

from arena.api.app import create_app
from arena.api.auth import TokenAuth

ROOT = Path(__file__).resolve().parents[3]
API = ROOT / "arena" / "api"


class Links(HTMLParser):
    """Every URL the page would load: script src, link href, img src, ..."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("src", "href") and value is not None:
                self.urls.append(value)


@pytest.fixture
def client() -> TestClient:
    # The dashboard and its files touch no server: a console with nothing behind it will do.
    console = SimpleNamespace(auth=TokenAuth({}), registry=None, control=None)
    return TestClient(create_app(console))  # type: ignore[arg-type]


def page_links(client: TestClient) -> list[str]:
    links = Links()
    links.feed(client.get("/").text)
    return links.urls


def test_the_page_loads_only_files_of_this_server_under_a_strict_policy(
    client: TestClient,
) -> None:
    page = client.get("/")
    assert page.status_code == 200 and "Arena console" in page.text
    policy = dict(
        part.strip().split(" ", 1) for part in page.headers["content-security-policy"].split(";")
    )
    assert policy["default-src"] == "'none'"
    assert (policy["script-src"], policy["style-src"], policy["connect-src"]) == ("'self'",) * 3
    assert "<script>" not in page.text and "style=" not in page.text  # nothing inline
    urls = page_links(client)
    assert "/static/dashboard.js" in urls and "/static/dashboard.css" in urls
    assert all(u.startswith("/static/") for u in urls), urls


def test_every_file_the_page_names_is_served_with_its_type(client: TestClient) -> None:
    types = {".js": "javascript", ".css": "text/css"}
    for url in page_links(client):
        response = client.get(url)
        assert response.status_code == 200, url
        assert types[Path(url).suffix] in response.headers["content-type"], url
        assert response.content == (API / url.removeprefix("/")).read_bytes()


def test_no_file_of_the_dashboard_names_another_origin() -> None:
    swagger = API / "static" / "vendor" / "swagger-ui"  # /docs's, not the dashboard's
    for path in (API / "static").rglob("*"):
        if path.suffix in (".js", ".css") and path.is_file() and swagger not in path.parents:
            text = path.read_text()
            # Only a vendored file's banner comment may name its home page.
            text = re.sub(r"/\*!.*?\*/", "", text, flags=re.DOTALL)
            assert "://" not in text, path
    assert "://" not in (API / "dashboard.html").read_text()


def test_the_dashboards_files_are_package_data() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["arena"]
    files = [API / "dashboard.html", *(p for p in (API / "static").rglob("*") if p.is_file())]
    for path in files:
        relative = path.relative_to(ROOT / "arena").as_posix()
        # setuptools matches each pattern within one directory: "*" does not cross a "/".
        assert any(
            fnmatch.fnmatch(relative, p) and relative.count("/") == p.count("/") for p in patterns
        ), f"{relative} is not in [tool.setuptools.package-data] arena"


def test_the_vendored_chart_library_is_the_registry_package_it_says() -> None:
    vendored = API / "static" / "vendor" / "uplot"
    note = (vendored / "VENDORED.md").read_text()
    assert "| version | 1.6.32 |" in note and "uplot-1.6.32.tgz" in note
    assert re.search(r"`sha512-[A-Za-z0-9+/]{86}==`", note), "the registry's integrity"
    rows = dict(re.findall(r"^\| `([^`]+)` \| `[^`]+` \| `([0-9a-f]{64})` \|$", note, re.M))
    assert set(rows) == {"uPlot.iife.min.js", "uPlot.min.css", "LICENSE"}
    for name, digest in rows.items():
        assert hashlib.sha256((vendored / name).read_bytes()).hexdigest() == digest, name
    assert "MIT License" in (vendored / "LICENSE").read_text()
    assert "(v1.6.32)" in (vendored / "uPlot.iife.min.js").read_text()[:200]


def test_the_vendored_swagger_ui_is_the_registry_package_it_says(client: TestClient) -> None:
    vendored = API / "static" / "vendor" / "swagger-ui"
    note = (vendored / "VENDORED.md").read_text()
    assert "| version | 5.35.0 |" in note and "swagger-ui-dist-5.35.0.tgz" in note
    rows = dict(re.findall(r"^\| `([^`]+)` \| `([0-9a-f]{64})` \|$", note, re.M))
    assert set(rows) == {p.name for p in vendored.iterdir() if p.name != "VENDORED.md"}
    for name, digest in rows.items():
        assert hashlib.sha256((vendored / name).read_bytes()).hexdigest() == digest, name
    docs = client.get("/docs").text
    loaded = re.findall(r'(?:src|href)=["\']([^"\']+)', docs)
    assert loaded and all(u.startswith("/static/vendor/swagger-ui/") for u in loaded), loaded
