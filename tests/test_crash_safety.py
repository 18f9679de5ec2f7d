"""Crash safety: SIGKILL at chosen points and at a random moment leaves a library the next run completes without
loss or duplication; a second run on a held library is refused, never interleaved.

Each killed run is a real `ningliang run` subprocess. `NINGLIANG_CRASH_ROUNDS=10 pytest tests/test_crash_safety.py`
adds more random-moment kills (seeded) for a longer campaign.
"""

import contextlib
import csv
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipelines import migrations as m
from pipelines import schema as s
from pipelines.cli import main
from pipelines.run_safety import LibraryBusyError
from pipelines.store import Library

ROUNDS = int(os.environ.get("NINGLIANG_CRASH_ROUNDS", "1"))
ROWS = [
    (f"K-{i}", title, f"{title}的需求描述：提升性能与可靠性，指标≥{90 + i}%。", f"企业{i % 5}")
    for i, title in enumerate(
        ["钒电池电解液", "白酒窖池监测", "钛合金锻件热处理", "中药配方颗粒质量", "工业机器人减速器", "锂电隔膜涂覆"] * 3
    )
]


def _call(tmp_path: Path) -> Path:
    path = tmp_path / "call.csv"
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["需求编号", "需求名称", "需求描述", "企业名称"])
        writer.writerows(ROWS)
    return path


def _run(tmp_path: Path, crash_at: str = "", kill_after: float | None = None) -> int:
    env = {**os.environ, "NINGLIANG_CRASH_AT": crash_at, "PREFECT_HOME": str(tmp_path / "prefect")}
    env["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"] = "120"
    config = tmp_path / "c.yaml"
    config.write_text(f"embed:\n  cache_dir: {tmp_path / 'cache'}\n", encoding="utf-8")
    args = [str(Path(sys.executable).parent / "ningliang"), "run", str(_call(tmp_path)), "--call", "k1", "--quiet"]
    args += ["--db", f"sqlite:///{tmp_path / 'lib.sqlite'}", "--out", str(tmp_path / "out"), "--config", str(config)]
    log = (tmp_path / "run.log").open("ab")
    # a session of its own: the kill takes the whole process group, Prefect's server child included (a power cut)
    proc = subprocess.Popen(args, env=env, stdout=log, stderr=log, start_new_session=True)
    try:
        proc.wait(timeout=kill_after) if kill_after is not None else proc.wait(timeout=600)
    except subprocess.TimeoutExpired:
        if kill_after is None:
            raise
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # the run (if still alive) and whatever it started
        log.close()
    return proc.wait()


def _library_state(tmp_path: Path) -> tuple[int, int, list[str]]:
    with Library.open(f"sqlite:///{tmp_path / 'lib.sqlite'}") as library:
        demands = library.demands()
        assert demands[s.DEMAND_ID].is_unique
        mapping = library.events(kind="mapping")
        assert not mapping.duplicated([m.DEMAND_REF, m.FIELD, m.NEW_VALUE]).any()  # no decision recorded twice
        return len(demands), len(mapping), library.runs()[m.STATUS].tolist()


def test_kills_at_commit_after_save_and_at_random_moments_lose_and_duplicate_nothing(tmp_path: Path) -> None:
    assert _run(tmp_path, crash_at="before-commit") == -signal.SIGKILL
    count, _, statuses = _library_state(tmp_path)
    assert count == 0 and statuses == ["running"]  # the transaction died with the process: nothing half-written
    assert _run(tmp_path, crash_at="after-save") == -signal.SIGKILL
    count, events, statuses = _library_state(tmp_path)
    assert count == len(ROWS) and events > 0
    assert statuses == ["failed", "running"]  # the first crash was closed as interrupted by the second run
    rng = random.Random(2026)
    for _ in range(ROUNDS):
        _run(tmp_path, kill_after=rng.uniform(2.0, 20.0))
    assert _run(tmp_path) == 0
    count, events_after, statuses = _library_state(tmp_path)
    assert count == len(ROWS) and events_after == events  # completed: same demands, no decision re-recorded
    assert statuses[-1] == "succeeded" and "running" not in statuses
    with Library.open(f"sqlite:///{tmp_path / 'lib.sqlite'}") as library:
        failed = library.runs()
        assert failed[failed[m.STATUS] == "failed"][m.MANIFEST_JSON].str.contains("interrupted").all()
    assert (tmp_path / "out" / "demands.csv").read_text(encoding="utf-8-sig").count("\n") == len(ROWS) + 1


def test_a_second_run_on_a_held_library_is_refused_with_the_holder(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'lib.sqlite'}"
    with Library.open(url) as first, first.exclusive_run("批次 k0"):
        second = Library.open(url)
        with pytest.raises(LibraryBusyError, match="批次 k0"), second.exclusive_run("批次 k1"):
            pass  # pragma: no cover
        second.close()
        result = CliRunner().invoke(main, ["run", str(_call(tmp_path)), "--call", "k1", "--db", url, "--quiet"])
        assert result.exit_code == 2 and "正被另一个运行使用" in result.output
    with Library.open(url) as again, again.exclusive_run("批次 k2"):
        pass  # released when the holder finished
