"""A throwaway PostgreSQL server for the library tests (used by the `pg_server` fixture in conftest.py).

`start()` gives a server in this order:
1. `NINGLIANG_TEST_PG_URL` set: that server (a URL whose user may CREATE DATABASE), nothing is started;
2. PostgreSQL's `initdb` / `pg_ctl` found (Debian's /usr/lib/postgresql/*/bin, or on PATH), else, as root with
   apt-get, Debian's `postgresql` package installed quietly (no default cluster created or started);
3. a cluster initdb'd in a fresh temporary folder and started on a unix socket in that folder (no TCP port, so no
   clash with any other server), durability off (fsync, synchronous_commit, full_page_writes): a test server.
   As root the server runs as the `postgres` user (PostgreSQL refuses to run as root).
Anything missing or failing raises `Unavailable` with the reason; the fixture turns it into a skip.
"""

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

ENV_URL = "NINGLIANG_TEST_PG_URL"  # an existing server to use instead of starting one
ENV_DISABLE = "NINGLIANG_TEST_PG"  # "0" / "off": skip the PostgreSQL tests
INSTALL_TIMEOUT_S = 300
PORT = 5432  # only names the socket file: the server listens on no TCP address
# a database like a Chinese deployment's (text sorts by pinyin, unlike SQLite), when the server has ICU
_ICU_DATABASE = "TEMPLATE template0 ENCODING 'UTF8' LOCALE_PROVIDER icu ICU_LOCALE 'zh' LOCALE 'C.UTF-8'"


class Unavailable(RuntimeError):
    """No PostgreSQL server could be had; the message says why."""


@dataclass
class Server:
    admin_url: str  # SQLAlchemy URL of a maintenance database (CREATE / DROP DATABASE)
    version: str = ""
    how: str = ""  # what was done to get it, for the summary line
    seconds: float = 0.0
    _folder: Path | None = None
    _bindir: Path | None = None
    _as_user: dict[str, Any] = field(default_factory=dict)
    _engine: sa.Engine | None = None
    _icu: bool | None = None

    def _admin(self) -> sa.Engine:
        if self._engine is None:
            self._engine = sa.create_engine(self.admin_url, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)
        return self._engine

    def create_database(self, prefix: str = "t") -> str:
        """A new empty database (collated like a Chinese deployment when the server has ICU); its URL."""
        name = f"ningliang_{prefix}_{uuid.uuid4().hex[:12]}"
        with self._admin().connect() as conn:
            if self._icu is not False:
                try:
                    conn.exec_driver_sql(f'CREATE DATABASE "{name}" {_ICU_DATABASE}')
                    self._icu = True
                except sa.exc.DBAPIError:
                    self._icu = False
            if not self._icu:
                conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        return sa.make_url(self.admin_url).set(database=name).render_as_string(hide_password=False)

    def drop_database(self, url: str) -> None:
        name = sa.make_url(url).database
        with self._admin().connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
        if self._folder is None or self._bindir is None:
            return
        data = self._folder / "data"
        _run([str(self._bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"], self._as_user, 60)
        shutil.rmtree(self._folder, ignore_errors=True)
        self._folder = None


def _run(argv: Sequence[str], as_user: dict[str, Any], timeout: float, **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(argv), capture_output=True, text=True, timeout=timeout, check=False, stdin=subprocess.DEVNULL,
        **as_user, **kw,
    )  # fmt: skip


def _bindir() -> Path | None:
    """The newest installed server's bin folder (Debian keeps initdb and pg_ctl off PATH)."""
    found = sorted(
        (Path(p).parent for p in glob.glob("/usr/lib/postgresql/*/bin/initdb")),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    if found:
        return found[-1]
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    return Path(initdb).resolve().parent if initdb and pg_ctl else None


def _apt_install() -> str:
    """Install Debian's postgresql package (as root), creating no default cluster; '' or why it failed."""
    env = os.environ | {"DEBIAN_FRONTEND": "noninteractive", "UCF_FORCE_CONFFOLD": "1"}
    conf = Path("/etc/postgresql-common/createcluster.conf")
    if not conf.exists():  # keep the package from creating and starting a "main" cluster on port 5432
        conf.parent.mkdir(parents=True, exist_ok=True)
        conf.write_text("create_main_cluster = false\n", encoding="utf-8")
    install = ["apt-get", "install", "-y", "-qq", "--no-install-recommends"]
    install += ["-o", "Dpkg::Options::=--force-confdef", "-o", "Dpkg::Options::=--force-confold", "postgresql"]
    try:
        done = _run(install, {}, INSTALL_TIMEOUT_S, env=env)
        if done.returncode != 0:  # stale or missing package lists: update once, then retry
            _run(["apt-get", "update", "-qq"], {}, INSTALL_TIMEOUT_S, env=env)
            done = _run(install, {}, INSTALL_TIMEOUT_S, env=env)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"apt-get install postgresql failed: {exc}"
    if done.returncode != 0:
        return f"apt-get install postgresql failed: {(done.stderr or done.stdout).strip()[-300:]}"
    return ""


def _server_user() -> dict[str, Any]:
    """subprocess arguments that run the server as `postgres` when we are root (nothing otherwise)."""
    if os.geteuid() != 0:
        return {}
    try:
        user = pwd.getpwnam("postgres")
    except KeyError as exc:
        raise Unavailable("running as root and there is no 'postgres' user to run the server as") from exc
    return {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}


def start() -> Server:
    """A running server (see the module docstring); raises Unavailable with the reason."""
    began = time.monotonic()
    if os.environ.get(ENV_DISABLE, "").lower() in ("0", "off", "no", "false"):
        raise Unavailable(f"disabled by {ENV_DISABLE}={os.environ[ENV_DISABLE]}")
    if os.environ.get(ENV_URL):
        server = Server(os.environ[ENV_URL], how=f"given by {ENV_URL}")
        return _check(server, began)
    how = "installed server"
    bindir = _bindir()
    if bindir is None:
        if os.geteuid() != 0 or shutil.which("apt-get") is None:
            raise Unavailable("PostgreSQL is not installed (initdb/pg_ctl not found) and cannot be (needs root + apt)")
        failed = _apt_install()
        bindir = _bindir()
        if bindir is None:
            raise Unavailable(failed or "apt-get installed postgresql but initdb/pg_ctl are still missing")
        how = "installed with apt-get"
    as_user = _server_user()
    folder = Path(tempfile.mkdtemp(prefix="ningliang-pg-", dir="/tmp" if os.path.isdir("/tmp") else None))
    server = Server("", how=how, _folder=folder, _bindir=bindir, _as_user=as_user)
    try:
        if as_user:
            os.chown(folder, as_user["user"], as_user["group"])
        _init_and_start(bindir, folder, as_user)
    except BaseException:
        server.stop()
        raise
    server.admin_url = f"postgresql+psycopg://postgres@/postgres?host={folder}&port={PORT}"
    return _check(server, began)


def _init_and_start(bindir: Path, folder: Path, as_user: dict[str, Any]) -> None:
    data, log = folder / "data", folder / "server.log"
    initdb = [str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8"]
    initdb += ["--locale=C.UTF-8", "--no-sync"]
    try:
        done = _run(initdb, as_user, 120, cwd=folder)
        if done.returncode != 0:
            raise Unavailable(f"initdb failed: {(done.stderr or done.stdout).strip()[-300:]}")
        options = f"-k {folder} -p {PORT} -c listen_addresses='' -c fsync=off -c synchronous_commit=off"
        options += " -c full_page_writes=off -c max_connections=100"
        pg_ctl = [str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options, "-w", "-t", "60", "start"]
        done = _run(pg_ctl, as_user, 90, cwd=folder)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise Unavailable(f"could not run {bindir}/initdb or pg_ctl: {exc}") from exc
    if done.returncode != 0:
        tail = log.read_text(encoding="utf-8", errors="replace")[-300:] if log.exists() else done.stderr
        raise Unavailable(f"pg_ctl start failed: {tail.strip()}")


def _check(server: Server, began: float) -> Server:
    try:
        with server._admin().connect() as conn:
            server.version = str(conn.exec_driver_sql("SHOW server_version").scalar())
    except (sa.exc.DBAPIError, ImportError) as exc:
        server.stop()
        raise Unavailable(f"cannot connect to {sa.make_url(server.admin_url)!r}: {exc}") from exc
    server.seconds = time.monotonic() - began
    return server
