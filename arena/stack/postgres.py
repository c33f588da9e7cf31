"""PostgreSQL from Debian's package, as a private cluster on its own port.

initdb refuses to run as root, so as root every server command runs as the ``postgres``
user, and the data directory lives under the state dir (never under /root, which that user
cannot enter).
"""

from __future__ import annotations

import glob
import shutil
from pathlib import Path

import psycopg

from arena.config import DatabaseSettings, StackSettings
from arena.errors import MissingToolError, StackError
from arena.stack.process import run_checked, tail_file, wait_until
from arena.stack.tools import is_root, require_tool


def find_bindir() -> Path | None:
    """The newest installed PostgreSQL server's bin directory (Debian layout), if any."""
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
        key=lambda p: (
            int(Path(p).parent.parent.name) if Path(p).parent.parent.name.isdigit() else 0
        ),
    )
    if candidates:
        return Path(candidates[-1]).parent
    on_path = shutil.which("pg_ctl")
    return Path(on_path).resolve().parent if on_path else None


class PostgresServer:
    name = "postgres"

    def __init__(self, db: DatabaseSettings, stack: StackSettings) -> None:
        self.db = db
        self.state = stack.state_dir / "postgres"
        self.data = self.state / "data"
        self.log_path = self.state / "postgres.log"
        self._bindir: Path | None = None

    @property
    def bindir(self) -> Path:
        if self._bindir is None:
            self._bindir = find_bindir()
        if self._bindir is None:
            raise MissingToolError(
                "PostgreSQL server binaries (pg_ctl, initdb) not found: "
                "apt-get install postgresql (Debian's package)"
            )
        return self._bindir

    def install(self) -> bool:
        """apt-get install postgresql when the server is missing (as root only)."""
        if find_bindir() is not None:
            return False
        if not is_root():
            raise MissingToolError(
                "PostgreSQL server not installed; run as root: apt-get install -y postgresql"
            )
        apt = require_tool("apt-get")
        run_checked([apt, "update", "-q"], what="apt-get update")
        run_checked(
            [apt, "install", "-y", "-q", "--no-install-recommends", "postgresql"],
            what="apt-get install postgresql",
            env={"DEBIAN_FRONTEND": "noninteractive"},
        )
        return True

    def _as_owner(self, argv: list[str]) -> list[str]:
        if is_root():
            return [require_tool("runuser"), "-u", "postgres", "--", *argv]
        return argv

    def _prepare_dirs(self) -> None:
        self.state.mkdir(parents=True, exist_ok=True)
        self.state.parent.chmod(0o755)
        if is_root():
            shutil.chown(self.state, "postgres", "postgres")
        self.state.chmod(0o700)

    def start(self) -> None:
        self._prepare_dirs()
        if not (self.data / "PG_VERSION").exists():
            pwfile = self.state / ".pwfile"
            pwfile.write_text(self.db.password.get_secret_value())
            if is_root():
                shutil.chown(pwfile, "postgres", "postgres")
            run_checked(
                self._as_owner(
                    [
                        str(self.bindir / "initdb"),
                        "-D",
                        str(self.data),
                        "-U",
                        self.db.user,
                        "--pwfile",
                        str(pwfile),
                        "-A",
                        "scram-sha-256",
                        "-E",
                        "UTF8",
                        "--locale",
                        "C.UTF-8",
                    ]
                ),
                what="initdb",
            )
            pwfile.unlink()
        if self.running():
            return
        opts = (
            f"-p {self.db.port} -c listen_addresses={self.db.host} -k {self.state} "
            "-c max_connections=200"
        )
        run_checked(
            self._as_owner(
                [
                    str(self.bindir / "pg_ctl"),
                    "-D",
                    str(self.data),
                    "-l",
                    str(self.log_path),
                    "-o",
                    opts,
                    "-w",
                    "-t",
                    "60",
                    "start",
                ]
            ),
            what="pg_ctl start",
        )

    def running(self) -> bool:
        if not (self.data / "postmaster.pid").exists():
            return False
        pg_ctl = str(self.bindir / "pg_ctl")
        try:
            run_checked(
                self._as_owner([pg_ctl, "-D", str(self.data), "status"]), what="pg_ctl status"
            )
        except StackError:
            return False
        return True

    def _connect(self, dbname: str) -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(
            host=self.db.host,
            port=self.db.port,
            user=self.db.user,
            dbname=dbname,
            password=self.db.password.get_secret_value(),
            connect_timeout=2,
            autocommit=True,
        )

    def ready(self) -> bool:
        with self._connect("postgres") as conn:
            conn.execute("SELECT 1")
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (self.db.name,)
            ).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{self.db.name}"')
        return True

    def wait_ready(self, timeout_s: float) -> float:
        return wait_until(
            self.ready,
            what="PostgreSQL",
            timeout_s=timeout_s,
            on_timeout=lambda: tail_file(self.log_path),
        )

    def stop(self) -> bool:
        if not self.running():
            return False
        run_checked(
            self._as_owner(
                [str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"]
            ),
            what="pg_ctl stop",
        )
        return True

    def describe(self) -> str:
        return f"postgres {self.db.host}:{self.db.port} db={self.db.name} user={self.db.user}"
