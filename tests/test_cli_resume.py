"""`ningliang run` as a user meets it after a power cut: the run killed after a stage is re-run with the same command
and loads the finished stages from <out>/.resume instead of recomputing them (saying so on each stage's line), a
result the kill cut short is computed again, the outputs are those of an uninterrupted run, and the resume folder is
gone after the success. Also what the stage lines and the final lines tell the user."""

import contextlib
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openpyxl
import pandas as pd
import pytest
from click.testing import CliRunner

from pipelines import flows
from pipelines.cli import main
from pipelines.resume import stage_key
from tests.test_crash_safety import _call

pytestmark = pytest.mark.usefixtures("prefect_harness")
REPO = Path(__file__).resolve().parents[1]
CODE = "code-under-test"
# the killed run, in a process of its own (the crash hook SIGKILLs it); the package's code revision is fixed, as in
# tests/test_resume.py, because other work may edit the package while this test runs
_CLI = (
    "import sys\n"
    "from pipelines import resume\n"
    f"resume.code_revision = lambda package=None: {CODE!r}\n"
    "from pipelines.cli import main\n"
    "main(sys.argv[1:], prog_name='ningliang')\n"
)
STAGES = ("文本规范化", "中文分词", "句向量", "查重", "产业映射", "相似聚类", "需求清单", "写入需求库", "生成报告")


def _args(tmp_path: Path, out: str, db: str) -> list[str]:
    config = tmp_path / "c.yaml"
    config.write_text(f"embed:\n  cache_dir: {tmp_path / 'cache'}\n", encoding="utf-8")
    where = ["--out", str(tmp_path / out), "--db", f"sqlite:///{tmp_path / db}", "--config", str(config)]
    return ["run", str(_call(tmp_path)), "--call", "k1", *where]


def _killed_after(stage: str, tmp_path: Path, args: list[str]) -> int:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    env |= {"NINGLIANG_CRASH_AT": f"after-{stage}", "PREFECT_HOME": str(tmp_path / "prefect")}
    env |= {"PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120", "OPENBLAS_NUM_THREADS": "1"}
    # a session of its own: the kill then takes the whole group, Prefect's server child included
    proc = subprocess.Popen([sys.executable, "-c", _CLI, *args], cwd=REPO, env=env, start_new_session=True)
    try:
        return proc.wait(timeout=600)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)


def _stage_line(stderr: str, stage: str) -> str:
    lines = [line for line in stderr.splitlines() if f"] {stage} " in line]
    assert len(lines) == 1, stderr
    return lines[0]


def _cells(path: Path) -> dict[str, list[list[Any]]]:
    book = openpyxl.load_workbook(path)
    return {sheet.title: [[cell.value for cell in row] for row in sheet.iter_rows()] for sheet in book.worksheets}


def _counting(fn: Callable[..., Any], name: str, calls: Counter[str]) -> Any:
    def counted(*args: Any) -> Any:
        calls[name] += 1
        return fn(*args)

    return flows._task(counted, name)


def test_a_killed_run_resumes_where_it_stopped_and_gives_the_outputs_of_a_straight_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # an uninterrupted run, keeping nothing: what the user sees on the way and at the end
    straight = CliRunner().invoke(main, [*_args(tmp_path, "straight", "b.sqlite"), "--no-resume"])
    assert straight.exit_code == 0, straight.output
    assert not (tmp_path / "straight" / ".resume").exists()
    for stage in STAGES:  # stderr is no terminal here: plain lines, each stage with its throughput
        assert "条/秒）" in _stage_line(straight.stderr, stage) and "已从中断处恢复" not in straight.stderr
    assert not any(ch < " " for ch in straight.stderr.replace("\n", ""))
    final = straight.stdout.splitlines()
    assert f"输出目录：{(tmp_path / 'straight').resolve()}" in final
    assert f"审阅报告：{(tmp_path / 'straight' / 'report.html').resolve()}" in final
    assert f"需求清单：{(tmp_path / 'straight' / 'draft_list.xlsx').resolve()}" in final
    flagged = pd.read_csv(tmp_path / "straight" / "demands.csv", dtype=str, encoding="utf-8-sig")["needs_review"]
    assert (flagged == "true").sum() > 0
    assert f"待复核 {(flagged == 'true').sum()} 条" in final[0] and final[-1].startswith("待复核")

    # the same call on another library, killed by a power cut right after duplicate detection
    args = _args(tmp_path, "out", "a.sqlite")
    assert _killed_after("查重", tmp_path, args) == -signal.SIGKILL
    [kept] = (tmp_path / "out" / ".resume").iterdir()
    finished = ("文本规范化", "中文分词", "关联需求库", "查重")  # the vectors are kept by the vector cache instead
    assert sorted(p.name for p in kept.iterdir()) == sorted(stage_key(kept.name, stage) for stage in finished)
    # as if the kill had come while the pairs were being written: their result is cut short
    pairs = kept / stage_key(kept.name, "查重")
    pairs.write_bytes(pairs.read_bytes()[:100])

    # the same command again
    calls: Counter[str] = Counter()
    monkeypatch.setattr(flows, "code_revision", lambda: CODE)
    for attr in ("normalize_task", "segment_task", "embed_task", "pairs_task"):
        stage = getattr(flows, attr)
        monkeypatch.setattr(flows, attr, _counting(stage.fn, stage.name, calls))
    resumed = CliRunner().invoke(main, args, env={"NINGLIANG_CRASH_AT": ""})
    assert resumed.exit_code == 0, resumed.output
    assert calls == {"embed": 1, "duplicate-pairs": 1}  # normalisation and segmentation loaded, not computed
    for stage in ("文本规范化", "中文分词"):
        assert "已从中断处恢复" in _stage_line(resumed.stderr, stage)
    for stage in ("句向量", "查重", "产业映射"):
        assert "完成（" in _stage_line(resumed.stderr, stage)
    assert not (tmp_path / "out" / ".resume").exists()  # removed after the success

    for name in ("demands.csv", "clusters.csv", "duplicate_pairs.csv", "quarantine.csv"):
        assert (tmp_path / "out" / name).read_bytes() == (tmp_path / "straight" / name).read_bytes(), name
    assert _cells(tmp_path / "out" / "draft_list.xlsx") == _cells(tmp_path / "straight" / "draft_list.xlsx")
    assert resumed.stdout.splitlines()[0] == final[0]  # the same counts, 待复核 included
