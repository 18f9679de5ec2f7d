"""Shared fixtures: small hand-written demands and a deterministic fake encoder for logic tests."""

import os
from collections.abc import Iterator

import pandas as pd
import pytest

from pipelines import schema as s
from tests.fakes import HashEncoder


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
