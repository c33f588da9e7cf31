"""Arena's services as real processes (``arena scorer``, ``arena trainer``, ...), each with
the settings of one scenario, so faults hit them the way they hit a deployment."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from arena.config import Settings

REPO_ROOT = Path(__file__).resolve().parents[2]
# The ``arena`` console script, run by this interpreter from this checkout (not whatever
# checkout the shared virtualenv's editable install points at).
LAUNCH = "from arena.cli.main import run; run()"
SECTIONS = {
    "kafka": "ARENA_KAFKA_",
    "db": "ARENA_DB_",
    "s3": "ARENA_S3_",
    "scorer": "ARENA_SCORER_",
    "trainer": "ARENA_TRAINER_",
    "evaluator": "ARENA_EVALUATOR_",
}


def service_env(settings: Settings, **extra: str) -> dict[str, str]:
    """Every ``ARENA_*`` variable that reproduces ``settings`` in a child process."""
    env = dict(os.environ)
    for section, prefix in SECTIONS.items():
        for key, value in getattr(settings, section).model_dump().items():
            if value is None:
                continue
            if hasattr(value, "get_secret_value"):
                value = value.get_secret_value()
            env[prefix + key.upper()] = (
                str(value).lower() if isinstance(value, bool) else str(value)
            )
    env["PYTHONPATH"] = str(REPO_ROOT)
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    env.update(extra)
    return env


_NOISE = ("Connect to ipv4", "_TRANSPORT", "brokers are down", "Disconnected")


class ServiceProcess:
    """One service as a subprocess; restartable with the same identity after a kill."""

    def __init__(self, name: str, command: str, env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.command = command
        self.env = env
        self.log_path = log_dir / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            log.write(f"\n===== start {self.starts + 1} of {self.name} =====\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                [sys.executable, "-c", LAUNCH, self.command],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=REPO_ROOT,
            )
        self.starts += 1

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def exit_code(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(30)

    def signal(self, sig: signal.Signals) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def wait_exit(self, timeout_s: float) -> float | None:
        """Seconds until the process exited, or None if it still runs after ``timeout_s``."""
        assert self.proc is not None
        started = time.monotonic()
        try:
            self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            return None
        return time.monotonic() - started

    def stop(self, timeout_s: float = 20.0) -> None:
        """SIGTERM, then SIGKILL if it does not exit in time (teardown, not a fault)."""
        if not self.alive():
            return
        self.signal(signal.SIGCONT)  # a process left stopped by a fault cannot handle SIGTERM
        self.signal(signal.SIGTERM)
        if self.wait_exit(timeout_s) is None:
            self.kill9()

    def log_tail(self, lines: int = 40) -> str:
        """The end of its log, without librdkafka's connection noise during an outage."""
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""
        kept = [line for line in text.splitlines() if not any(n in line for n in _NOISE)]
        return "\n".join(kept[-lines:])


class Fleet:
    """The services of one scenario's deployment."""

    def __init__(self, settings: Settings, log_dir: Path) -> None:
        self.settings = settings
        self.log_dir = log_dir
        self.services: dict[str, ServiceProcess] = {}

    def add(self, name: str, command: str, **extra: str) -> ServiceProcess:
        service = ServiceProcess(name, command, service_env(self.settings, **extra), self.log_dir)
        self.services[name] = service
        service.start()
        return service

    def scorers(self, n: int, **extra: str) -> list[ServiceProcess]:
        """``n`` scorers with stable ids ``scorer-1..n`` (hence stable transactional ids)."""
        return [
            self.add(f"scorer-{i}", "scorer", ARENA_SCORER_SCORER_ID=f"scorer-{i}", **extra)
            for i in range(1, n + 1)
        ]

    def stop(self) -> None:
        for service in self.services.values():
            service.stop()

    def dump_stacks(self) -> dict[str, str]:
        """``py-spy dump`` of every running service (empty when py-spy is not installed)."""
        py_spy = Path(sys.executable).parent / "py-spy"
        if not py_spy.exists():
            return {}
        stacks = {}
        for name, service in self.services.items():
            if service.alive():
                dump = subprocess.run(
                    [str(py_spy), "dump", "--pid", str(service.pid)],
                    capture_output=True,
                    text=True,
                    timeout=60,
                    check=False,
                )
                stacks[name] = (dump.stdout + dump.stderr)[-6000:]
        return stacks

    def crashed(self) -> dict[str, int]:
        """Services that exited on their own: name -> exit code."""
        return {
            name: code for name, s in self.services.items() if (code := s.exit_code()) is not None
        }
