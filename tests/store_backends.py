"""Fixtures for the store tests: the same test on an SQLite file and on a real, throwaway PostgreSQL server.

The PostgreSQL cluster is created once per test session (initdb + pg_ctl on a free port, in a temporary
folder) and stopped at the end; each test gets a fresh database in it. PostgreSQL refuses to run as
root: as root (CI) the server runs as the ``postgres`` system user that Debian's package creates, and the
folder is made its own. Without a server binary the PostgreSQL variants skip, saying so.

Test modules import the fixtures: ``from store_backends import store_url, postgres_cluster  # noqa: F401``.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

_counter = itertools.count()


def server_binaries() -> Path | None:
    for candidate in [shutil.which("pg_ctl"), *sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), reverse=True)]:
        if candidate and Path(candidate).resolve().with_name("initdb").exists() and Path(candidate).resolve().with_name("postgres").exists():
            return Path(candidate).resolve().parent
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _as_server_user(command: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return command
    return ["runuser", "-u", "postgres", "--", *command]


class Cluster:
    def __init__(self, bin_dir: Path, root: Path) -> None:
        self.bin_dir, self.root, self.port = bin_dir, root, _free_port()
        self.data = root / "data"

    def run(self, *command: str) -> None:
        done = subprocess.run(_as_server_user(list(command)), capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed: {(done.stderr or done.stdout).strip()[-500:]}")

    def start(self) -> None:
        self.run(str(self.bin_dir / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=60"
        self.run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-o", options, "-l", str(self.root / "server.log"), "-w", "start")

    def stop(self) -> None:
        subprocess.run(_as_server_user([str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop"]),
                       capture_output=True, timeout=60)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        import psycopg

        name = f"attnbench_test_{os.getpid()}_{next(_counter)}"
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


@pytest.fixture(scope="session")
def postgres_cluster():
    bin_dir = server_binaries()
    if bin_dir is None:
        pytest.skip("no PostgreSQL server binary (initdb, pg_ctl) on this machine: apt-get install postgresql")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.skip("psycopg 3 is not installed: pip install 'attnbench[postgres]'")
    root = Path(tempfile.mkdtemp(prefix="attnbench-pg-"))
    if os.geteuid() == 0:
        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            shutil.rmtree(root, ignore_errors=True)
            pytest.skip("running as root and there is no 'postgres' system user to run the server as")
        os.chown(root, user.pw_uid, user.pw_gid)
    cluster = Cluster(bin_dir, root)
    try:
        cluster.start()
    except RuntimeError as exc:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)
        pytest.fail(f"could not start a throwaway PostgreSQL cluster: {exc}")
    yield cluster
    cluster.stop()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path) -> str:
    """A fresh, empty store: an SQLite file, or a new database on the throwaway PostgreSQL cluster."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'attnbench.sqlite'}"
    return request.getfixturevalue("postgres_cluster").new_database()
