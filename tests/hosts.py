"""Several hosts on one machine, for tests: django-q2 clusters started as separate process groups, each with its
own working directory, NEURONPEDIA_VAR_DIR and TMPDIR (no shared temporary files), all on one PostgreSQL (the
test database) and one Redis broker started for the test, and reading model files from one shared data
directory, as docs/operations.md says worker hosts must. A host can be killed (kill -9 of its process group),
or started blind to the data directory (a mount namespace in which an empty directory hides it)."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from tests.conftest import SAMPLE_TEXT

REPO = Path(settings.BASE_DIR)
WORKER_SCRIPT = Path(__file__).with_name("host_worker.py")
# Fast watchdog timings for the hosts (the defaults are 5/30/45/20 s).
FAST_WATCHDOG = {"WORKER_BEAT_S": "0.5", "WORKER_DEAD_AFTER_S": "3", "RUN_LOST_AFTER_S": "4", "WATCHDOG_EVERY_S": "1"}

ON_POSTGRESQL = connection.vendor == "postgresql" or os.environ.get("DATABASE_URL", "").startswith("postgres")
needs_postgresql = pytest.mark.skipif(
    not ON_POSTGRESQL,
    reason="several hosts need one database they all reach: PostgreSQL (CI runs these on it; SQLite is one file)",
)
needs_redis_server = pytest.mark.skipif(
    not shutil.which("redis-server"), reason="needs the redis-server program (CI's .ci/run checks it is there)"
)


def wait_for(condition: Callable[[], bool], timeout: float = 60, poll: float = 0.1, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {timeout} s waiting for {what or condition}"
        time.sleep(poll)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RedisServer:
    """A redis-server of the test's own, on a free port, with no persistence (a restart loses what it held)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.process: subprocess.Popen | None = None
        directory.mkdir(parents=True, exist_ok=True)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            cwd=self.directory,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        import redis

        client = redis.Redis.from_url(self.url)
        wait_for(lambda: self._pings(client), timeout=10, what="redis-server")

    @staticmethod
    def _pings(client) -> bool:
        import redis

        try:
            return bool(client.ping())
        except redis.ConnectionError:
            return False

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def database_url() -> str:
    database = connection.settings_dict
    return (
        f"postgres://{database['USER']}:{database['PASSWORD']}@{database['HOST'] or '127.0.0.1'}:"
        f"{database['PORT'] or 5432}/{database['NAME']}"
    )


class Host:
    """One worker host: `python tests/host_worker.py` (qcluster, with optional test faults) in its own session."""

    def __init__(self, name: str, root: Path, *, redis_url: str, cluster: str, data_dir: Path, **extra: str) -> None:
        self.name = name
        self.home = root / name
        self.data_dir = data_dir
        for sub in ("var", "tmp"):
            (self.home / sub).mkdir(parents=True, exist_ok=True)
        self.env = {
            **{key: value for key, value in os.environ.items() if key not in ("SQLITE_PATH",)},
            "DJANGO_SETTINGS_MODULE": "neuronpedia.test_settings",
            "PYTHONPATH": str(REPO),
            "DATABASE_URL": database_url(),
            "REDIS_URL": redis_url,
            "Q_CLUSTER_NAME": cluster,
            "Q_WORKERS": "1",
            "NEURONPEDIA_HOST_NAME": name,
            "NEURONPEDIA_VAR_DIR": str(self.home / "var"),
            "NEURONPEDIA_DATA_DIR": str(data_dir),
            "TMPDIR": str(self.home / "tmp"),
            **FAST_WATCHDOG,
            **extra,
        }
        self.process: subprocess.Popen | None = None
        self.log = self.home / "worker.log"

    def start(self, *, blind: bool = False) -> None:
        """Start the host's cluster; `blind`: in a mount namespace where the shared data directory is empty."""
        command = [sys.executable, str(WORKER_SCRIPT)]
        if blind:
            empty = self.home / "empty"
            empty.mkdir(exist_ok=True)
            script = f'mount --bind "{empty}" "{self.data_dir}" && exec "$@"'
            command = ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", *command]
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                command, cwd=self.home, env=self.env, stdout=log, stderr=log, start_new_session=True
            )

    def kill(self) -> None:
        """kill -9 of the host's whole process group: no chance to clean anything up."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()


def can_hide_a_directory() -> bool:
    """Whether this machine lets a test start a process in a mount namespace (root, or unprivileged namespaces)."""
    probe = subprocess.run(["unshare", "--mount", "true"], capture_output=True)
    return probe.returncode == 0


@contextmanager
def queueing_through(redis_url: str, cluster: str, monkeypatch):
    """Make this test process queue runs' tasks on the hosts' Redis broker (its own settings use the ORM one)."""
    from django_q.brokers.redis_broker import Redis
    from django_q.conf import Conf
    from django_q.tasks import async_task

    from features.services import runs

    monkeypatch.setattr(Conf, "REDIS", redis_url)
    broker = Redis(list_key=cluster)
    monkeypatch.setattr(runs, "async_task", partial(async_task, broker=broker))
    yield broker


# --- Fixtures (import them into a test module) ---------------------------------------------------------


@pytest.fixture
def shared_data(tmp_path, tiny_gpt2_dir):
    """The shared data directory every host mounts: the model and the corpus, at the paths runs name."""
    data = tmp_path / "shared-data"
    shutil.copytree(tiny_gpt2_dir, data / "tiny-gpt2")
    (data / "corpus.txt").write_text(SAMPLE_TEXT * 3, encoding="utf-8")
    return data


@pytest.fixture
def redis_server(tmp_path):
    server = RedisServer(tmp_path / "redis")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def hosts(tmp_path, redis_server, shared_data):
    started: list[Host] = []

    def make(name: str, **extra: str) -> Host:
        host = Host(
            name, tmp_path / "hosts", redis_url=redis_server.url, cluster="hosts", data_dir=shared_data, **extra
        )
        started.append(host)
        return host

    yield make
    for host in started:
        host.kill()  # quicker than a graceful stop, and nothing of the test depends on it
