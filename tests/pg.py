"""A throw-away PostgreSQL server for the tests (Debian's ``postgresql`` package).

:func:`start_server` finds ``initdb``/``pg_ctl`` (``/usr/lib/postgresql/<ver>/bin``, the
highest version, or ``$PATH``), creates a cluster in a fresh temporary folder, starts it on
a free TCP port of 127.0.0.1 (the socket file stays in the data folder) with trust
authentication and fsync off, and returns a :class:`PgServer`; :meth:`PgServer.stop`
stops it (immediate mode) and deletes the folder. An ``atexit`` hook stops it if the test
session ends without its fixture teardown.

``initdb`` refuses to run as root. When the tests run as root (as CI does here), the
cluster is created and run by the ``postgres`` system user that the Debian package creates
(``nobody`` when that user is missing), through ``runuser``; the data folder is made in
``/tmp`` (not under pytest's 0700 base folder) and handed to that user.

If the binaries are missing, and we are root with ``apt-get`` available, the server is
installed with ``apt-get install -y postgresql`` (after ``apt-get update`` if the first
try fails); set ``CAMFORGE_TEST_PG_INSTALL=0`` to forbid that. Otherwise
:class:`PgUnavailable` says why, and the tests skip with that reason.

``CAMFORGE_TEST_PG_URL=postgresql://user@host:port/db`` uses an existing server instead
(the tests create and use databases named ``camforge_test_*`` on it).
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path


class PgUnavailable(RuntimeError):
    """No PostgreSQL server can be started here; the message says why."""


def find_bin_dir() -> Path | None:
    """The folder with ``initdb`` and ``pg_ctl``: the newest /usr/lib/postgresql/<ver>/bin, else $PATH."""
    dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"),
                  key=lambda p: [int(x) if x.isdigit() else 0 for x in Path(p).parent.name.split(".")])
    for d in reversed(dirs):
        if (Path(d) / "initdb").exists() and (Path(d) / "pg_ctl").exists():
            return Path(d)
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if initdb and pg_ctl:
        return Path(os.path.realpath(initdb)).parent
    return None


def _try_install() -> str | None:
    """apt-get install postgresql (root only); None on success, else why not."""
    if os.environ.get("CAMFORGE_TEST_PG_INSTALL", "1") == "0":
        return "CAMFORGE_TEST_PG_INSTALL=0 forbids installing it"
    if os.geteuid() != 0:
        return "not root, so it cannot be installed (apt-get install postgresql)"
    if shutil.which("apt-get") is None:
        return "apt-get is not available to install it"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    cmd = ["apt-get", "install", "-y", "-q", "--no-install-recommends", "postgresql"]
    # xdist workers: one installs, the other waits on the lock and then finds the binaries.
    with open("/tmp/camforge-test-pg-install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if find_bin_dir() is not None:
            return None
        try:
            r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
            if r.returncode != 0:
                subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True, timeout=300)
                r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
        except (OSError, subprocess.TimeoutExpired) as e:
            return f"apt-get install postgresql failed: {e}"
        if r.returncode != 0:
            tail = " ".join(r.stderr.split())[-300:]
            return f"apt-get install postgresql failed ({r.returncode}): {tail}"
    return None if find_bin_dir() is not None else "apt-get installed postgresql but initdb was not found"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run_as() -> str | None:
    """The user to run the server as (None: the current user)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    raise PgUnavailable("running as root and neither a 'postgres' nor a 'nobody' user exists to run initdb")


@dataclass
class PgServer:
    bin_dir: Path
    data_dir: Path
    port: int
    user: str | None  # the OS user the server runs as (None: us)
    superuser: str = "camforge"
    _n: itertools.count = field(default_factory=lambda: itertools.count(1))
    _stopped: bool = False

    def _cmd(self, *args: str) -> list[str]:
        return (["runuser", "-u", self.user, "--"] if self.user else []) + list(args)

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://{self.superuser}@127.0.0.1:{self.port}/{dbname}"

    def new_database(self, prefix: str = "camforge_test") -> str:
        """Create an empty database; return its URL."""
        import psycopg

        name = f"{prefix}_{os.getpid()}_{next(self._n)}"
        with psycopg.connect(host="127.0.0.1", port=self.port, user=self.superuser, dbname="postgres",
                             autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        with contextlib.suppress(Exception):
            subprocess.run(self._cmd(str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-m", "immediate",
                                     "-w", "stop"), capture_output=True, timeout=60)
        shutil.rmtree(self.data_dir, ignore_errors=True)


@dataclass
class ExternalPg:
    """A server given by ``CAMFORGE_TEST_PG_URL`` (not started or stopped by us)."""

    base_url: str
    _n: itertools.count = field(default_factory=lambda: itertools.count(1))

    def new_database(self, prefix: str = "camforge_test") -> str:
        import psycopg
        from sqlalchemy.engine import make_url

        u = make_url(self.base_url)
        name = f"{prefix}_{os.getpid()}_{next(self._n)}"
        with psycopg.connect(host=u.host, port=u.port or 5432, user=u.username, password=u.password,
                             dbname=u.database or "postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
        return u.set(database=name).render_as_string(hide_password=False)

    def stop(self) -> None:
        pass


def start_server() -> PgServer | ExternalPg:
    """Start a throw-away server (or use ``CAMFORGE_TEST_PG_URL``).

    Raises:
        PgUnavailable: the binaries are missing and cannot be installed, or the server
            does not start (the message has the log's tail).
    """
    external = os.environ.get("CAMFORGE_TEST_PG_URL")
    if external:
        return ExternalPg(external)
    try:
        import psycopg  # noqa: F401
    except ImportError:
        raise PgUnavailable("the psycopg driver is not installed (pip install 'psycopg[binary]')") from None
    bin_dir = find_bin_dir()
    if bin_dir is None:
        why = _try_install()
        bin_dir = find_bin_dir()
        if bin_dir is None:
            raise PgUnavailable(f"PostgreSQL server binaries (initdb, pg_ctl) not found; {why}")
    user = _run_as()
    data_dir = Path(tempfile.mkdtemp(prefix="camforge-pg-"))
    if user:
        pw = pwd.getpwnam(user)
        os.chown(data_dir, pw.pw_uid, pw.pw_gid)
    init = subprocess.run(
        [*(["runuser", "-u", user, "--"] if user else []), str(bin_dir / "initdb"), "-D", str(data_dir),
         "-U", "camforge", "--auth=trust", "-E", "UTF8", "--no-locale", "--no-sync"],
        capture_output=True, text=True, timeout=120, cwd="/",
    )
    if init.returncode != 0:
        shutil.rmtree(data_dir, ignore_errors=True)
        raise PgUnavailable(f"initdb failed: {' '.join((init.stderr or init.stdout).split())[-400:]}")
    last = ""
    for _ in range(3):  # a free port can be taken between choosing and binding it
        server = PgServer(bin_dir=bin_dir, data_dir=data_dir, port=_free_port(), user=user)
        opts = (f"-p {server.port} -k {data_dir} -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off -c max_connections=50")
        r = subprocess.run(server._cmd(str(bin_dir / "pg_ctl"), "-D", str(data_dir), "-o", opts,
                                       "-l", str(data_dir / "server.log"), "-w", "-t", "60", "start"),
                           capture_output=True, text=True, timeout=90, cwd="/")
        if r.returncode == 0:
            atexit.register(server.stop)
            _wait_ready(server)
            return server
        with contextlib.suppress(OSError):
            last = (data_dir / "server.log").read_text()[-400:]
        time.sleep(0.2)
    shutil.rmtree(data_dir, ignore_errors=True)
    raise PgUnavailable(f"PostgreSQL did not start: {' '.join(last.split())}")


def _wait_ready(server: PgServer, timeout_s: float = 30.0) -> None:
    import psycopg

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with psycopg.connect(host="127.0.0.1", port=server.port, user=server.superuser, dbname="postgres"):
                return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                server.stop()
                raise PgUnavailable("PostgreSQL started but does not accept connections") from None
            time.sleep(0.1)
