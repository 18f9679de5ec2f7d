"""Shared fixtures: small hand-written demands, a deterministic fake encoder for logic tests, and the library's
database backends (`library_url`: a fresh SQLite file or a fresh database on a throwaway PostgreSQL server)."""

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pytest

from pipelines import schema as s
from tests import pg_server
from tests.fakes import HashEncoder

BACKENDS = ("sqlite", "postgresql")
_PG_STATUS: list[str] = []  # one line for the terminal summary: how the server was had, or why not


@pytest.fixture
def fake_encoder() -> HashEncoder:
    return HashEncoder()


def make_demands(rows: list[tuple[str, str, str]]) -> pd.DataFrame:
    """(demand_id, title, text) triples -> a minimal canonical demands frame."""
    frame = pd.DataFrame(rows, columns=[s.DEMAND_ID, s.TITLE, s.TEXT])
    return frame.assign(
        **{
            s.ENTERPRISE: [f"企业{i}" for i in range(len(rows))],
            s.CREDIT_CODE: "",
            s.REGION: "成都市",
            s.FUNDING: 10.0,
            s.FLAGS: "",
        }
    )


def pytest_configure() -> None:
    """Quiet Prefect the way the CLI does, before any test module imports it."""
    for key, value in {
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_LOGGING_TO_API_ENABLED": "false",
        "PREFECT_LOGGING_LEVEL": "WARNING",
        "HF_HUB_OFFLINE": "1",
    }.items():
        os.environ.setdefault(key, value)


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """One temporary Prefect API for every flow-level test (starting one costs about ten seconds)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness():
        yield


@pytest.fixture(scope="session")
def pg_server_session() -> Iterator[pg_server.Server]:
    """A PostgreSQL server for the whole session, started on first use (see tests/pg_server.py); every test that
    needs it is skipped, with the reason, when none can be had."""
    try:
        server = pg_server.start()
    except pg_server.Unavailable as exc:
        _PG_STATUS.append(f"PostgreSQL library tests skipped: {exc}")
        pytest.skip(f"PostgreSQL unavailable: {exc}")
    _PG_STATUS.append(f"PostgreSQL {server.version} ({server.how}) ready in {server.seconds:.1f} s")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=BACKENDS)
def library_backend(request: pytest.FixtureRequest) -> str:
    """The library's database kind: every test using it (or library_url) runs once per backend."""
    return str(request.param)


@pytest.fixture
def new_library_url(
    library_backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Callable[[str], str]]:
    """A factory of fresh, empty library databases of this test's backend: name -> URL (dropped afterwards)."""
    made: list[str] = []
    server = request.getfixturevalue("pg_server_session") if library_backend == "postgresql" else None

    def make(name: str = "library") -> str:
        url = f"sqlite:///{tmp_path / name}.sqlite" if server is None else server.create_database()
        made.append(url)
        return url

    yield make
    if server is not None:
        for url in made:
            server.drop_database(url)


@pytest.fixture
def library_url(new_library_url: Callable[[str], str]) -> str:
    """A fresh, empty library database: a SQLite file, or a new database on the PostgreSQL test server."""
    return new_library_url("library")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for line in _PG_STATUS:
        terminalreporter.write_line(line)
