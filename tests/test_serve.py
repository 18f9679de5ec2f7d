"""Scheduled operation: the inbox flow under a Prefect test harness (real default encoder), its artifacts, the
deployments `ningliang serve` serves, and the CLI's refusals. A real `prefect server start` is exercised by
benchmarks/prefect_server_check.py."""

import csv
import json
import os
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from pipelines import flows
from pipelines.cli import main
from pipelines.errors import ConfigError, NingliangError
from pipelines.flows import consolidate_inbox, inbox_deployments

ROWS = [
    ("XQ-1", "高镍三元正极材料包覆改性技术", "需求内容：开发高镍三元正极材料表面包覆工艺。预期目标：循环寿命≥2000次。"),
    ("XQ-2", "白酒窖池温度智能监测系统", "需求内容：对浓香型白酒窖池发酵温度进行实时监测。预期目标：测温精度±0.5℃。"),
    ("XQ-3", "中药配方颗粒质量标准研究", ""),
]


def _write(path: Path, rows: list[tuple[str, str, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["需求编号", "需求名称", "需求描述", "企业名称"])
        writer.writerows([*row, f"企业{i}"] for i, row in enumerate(rows))


@pytest.mark.usefixtures("prefect_harness")
def test_inbox_flow_runs_due_calls_once_and_publishes_the_summary(tmp_path: Path) -> None:
    from prefect.artifacts import Artifact

    inbox, out = tmp_path / "inbox", tmp_path / "reports"
    _write(inbox / "c1" / "成都.csv", ROWS[:2])
    (inbox / "empty").mkdir()
    config = tmp_path / "config.yaml"
    config.write_text(f"embed:\n  cache_dir: {tmp_path / 'cache'}\n", encoding="utf-8")
    args: dict[str, Any] = {
        "inbox": str(inbox),
        "call_prefix": "t-",
        "db_url": f"sqlite:///{tmp_path / 'lib.sqlite'}",
        "config_file": str(config),
        "out_root": str(out),
        "settle_seconds": 1.0,  # the file must be a second old: listed twice, one second apart
    }
    first = consolidate_inbox(**args)
    assert len(first) == 1 and (out / "t-c1" / "report.html").exists()

    summary: Any = Artifact.get("consolidate-t-c1")
    assert summary is not None and summary.type == "markdown"
    assert "批次 t-c1 汇总" in str(summary.data) and "待复核" in str(summary.data) and first[0] in str(summary.data)
    counts: Any = Artifact.get("consolidate-t-c1-counts")
    assert counts is not None and counts.type == "table"
    rows = {row["字段"]: row for row in json.loads(str(counts.data))}
    assert (
        rows["accepted"] == {"指标": "接收需求", "数量": 2, "字段": "accepted"}
        and rows["library_inserted"]["数量"] == 2
    )

    assert consolidate_inbox(**args) == []  # nothing new: the poll does not run the call again
    time.sleep(1.1)
    _write(inbox / "c1" / "绵阳.csv", ROWS[2:])  # a late submission
    second = consolidate_inbox(**args)
    assert len(second) == 1 and second != first
    assert consolidate_inbox(**args, only_new=False) != []  # the scheduled run re-runs every call with files


def test_deployments_carry_the_schedules_and_parameters(tmp_path: Path) -> None:
    deployments = inbox_deployments(str(tmp_path), "sc-", "sqlite:///x.sqlite", None, str(tmp_path), "0 2 * * *", 60)
    scheduled, poll = deployments
    assert (scheduled.name, poll.name) == ("scheduled", "inbox-poll")
    assert scheduled.entrypoint == "pipelines.flows.consolidate_inbox"
    cron = scheduled.schedules[0].schedule
    assert (cron.cron, cron.timezone) == ("0 2 * * *", "Asia/Shanghai")
    assert poll.schedules[0].schedule.interval.total_seconds() == 60
    assert scheduled.parameters["only_new"] is False and poll.parameters["only_new"] is True
    assert poll.parameters["call_prefix"] == "sc-" and poll.parameters["inbox"] == str(tmp_path)
    assert [d.name for d in inbox_deployments(str(tmp_path), "", "", None, "", None, 30)] == ["inbox-poll"]
    with pytest.raises(ConfigError, match="cron"):
        inbox_deployments(str(tmp_path), "", "", None, "", "every night", None)


def test_serve_refuses_without_a_server_or_a_trigger(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    result = CliRunner().invoke(main, ["serve", "--inbox", str(tmp_path)])
    assert result.exit_code == 2 and "PREFECT_API_URL" in result.output
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")
    result = CliRunner().invoke(main, ["serve", "--inbox", str(tmp_path), "--cron", "", "--poll-seconds", "0"])
    assert result.exit_code == 2 and "不能同时关闭" in result.output
    result = CliRunner().invoke(main, ["serve", "--inbox", str(tmp_path), "--cron", "bad"])
    assert result.exit_code == 2 and "cron" in result.output


def test_serve_serves_both_deployments(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    served: list[Any] = []
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")
    monkeypatch.setattr(flows, "serve_inbox", served.extend)
    args = ["serve", "--inbox", str(tmp_path), "--call-prefix", "sc-", "--poll-seconds", "30", "--cron", "0 3 * * 1"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert [d.name for d in served] == ["scheduled", "inbox-poll"]
    assert served[0].parameters["db_url"].startswith("sqlite:///") and os.path.isabs(served[0].parameters["inbox"])


def test_only_transient_failures_are_retried() -> None:
    def state(exc: BaseException) -> SimpleNamespace:
        return SimpleNamespace(data=exc)

    assert flows._transient(None, None, state(OSError("share offline")))
    assert flows._transient(None, None, state(sa.exc.OperationalError("x", {}, Exception("database is locked"))))
    assert not flows._transient(None, None, state(TimeoutError()))
    assert not flows._transient(None, None, state(ValueError("bug")))
    assert not flows._transient(None, None, state(NingliangError("bad input")))
    assert flows.ingest_task.retries == 2 and flows.ingest_task.timeout_seconds
    assert flows.library_task.retries == 2 and flows.library_task.timeout_seconds
