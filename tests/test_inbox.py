"""Which inbox calls are due (pipelines/inbox.py) and the run summary's artifact text (pipelines/run_summary.py):
pure functions, no Prefect."""

import json
import os
from pathlib import Path

import pandas as pd

from pipelines.inbox import InboxFile, is_submission, last_attempts, list_inbox, plan_calls
from pipelines.run_summary import artifact_key, counts_table, summary_markdown

NOW = 1_800_000_000.0


def _files(*specs: tuple[str, int, float]) -> tuple[InboxFile, ...]:
    return tuple(InboxFile(name, size, changed) for name, size, changed in specs)


def _runs(*rows: tuple[str, str, str, dict[str, object] | None]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"call_id": c, "status": st, "started_at": at, "manifest_json": json.dumps(m) if m is not None else None}
            for c, st, at, m in rows
        ]
    )


def _iso(seconds: float) -> str:
    return pd.Timestamp(seconds, unit="s", tz="UTC").isoformat()


def test_submission_files_only() -> None:
    assert is_submission("成都.xlsx") and is_submission("b.CSV") and is_submission("c.jsonl")
    for name in ("~$成都.xlsx", ".~lock.a.xlsx#", ".hidden.csv", "a.xlsx.part", "a.csv.crdownload", "说明.docx"):
        assert not is_submission(name), name


def test_list_inbox_reads_call_folders(tmp_path: Path) -> None:
    (tmp_path / "2026-spring").mkdir()
    (tmp_path / "2026-spring" / "a.csv").write_text("x", encoding="utf-8")
    (tmp_path / "2026-spring" / "~$a.xlsx").write_text("lock", encoding="utf-8")
    (tmp_path / "2026-spring" / "sub").mkdir()
    (tmp_path / "2026-spring" / "sub" / "deep.csv").write_text("x", encoding="utf-8")
    (tmp_path / "empty").mkdir()
    (tmp_path / ".trash").mkdir()
    (tmp_path / "loose.csv").write_text("x", encoding="utf-8")
    listing = list_inbox(tmp_path)
    assert set(listing) == {"2026-spring", "empty"}
    assert [f.name for f in listing["2026-spring"]] == ["a.csv"] and listing["empty"] == ()
    assert list_inbox(tmp_path / "missing") == {}


def test_copy_keeping_an_old_mtime_still_counts_as_new(tmp_path: Path) -> None:
    (tmp_path / "c").mkdir()
    path = tmp_path / "c" / "a.csv"
    path.write_text("x", encoding="utf-8")
    os.utime(path, (1_000_000, 1_000_000))  # as `cp -p` or unzip leave it
    assert list_inbox(tmp_path)["c"][0].changed > 1_000_000 + 1e6  # the status-change time is now


def test_new_call_is_due_once_files_are_stable() -> None:
    files = _files(("a.xlsx", 100, NOW - 60))
    plans = plan_calls({"c1": files}, {"c1": files}, {}, "sc-", NOW, 5)
    assert [(p.call_id, p.due, p.files) for p in plans] == [("sc-c1", True, ("a.xlsx",))]


def test_files_still_being_written_wait() -> None:
    before = _files(("a.xlsx", 100, NOW - 60))
    growing = _files(("a.xlsx", 200, NOW - 60))
    assert not plan_calls({"c1": before}, {"c1": growing}, {}, "", NOW, 5)[0].due  # size changed between listings
    appeared = _files(("a.xlsx", 100, NOW - 60), ("b.csv", 10, NOW - 60))
    assert not plan_calls({"c1": before}, {"c1": appeared}, {}, "", NOW, 5)[0].due  # a file appeared meanwhile
    assert not plan_calls({}, {"c1": before}, {}, "", NOW, 5)[0].due  # the folder appeared meanwhile
    fresh = _files(("a.xlsx", 100, NOW - 2))
    plan = plan_calls({"c1": fresh}, {"c1": fresh}, {}, "", NOW, 5)[0]
    assert not plan.due and "写入" in plan.reason  # touched less than settle_seconds ago


def test_only_files_newer_than_the_last_attempt_make_a_call_due() -> None:
    old = _files(("a.xlsx", 100, NOW - 3600))
    attempts = {"c1": NOW - 1800}
    plan = plan_calls({"c1": old}, {"c1": old}, attempts, "", NOW, 5)[0]
    assert not plan.due and plan.reason == "上次运行后没有新文件"
    more = _files(("a.xlsx", 100, NOW - 3600), ("b.csv", 5, NOW - 60))
    plan = plan_calls({"c1": more}, {"c1": more}, attempts, "", NOW, 5)[0]
    assert plan.due and "b.csv" in plan.reason and "a.xlsx" not in plan.reason
    assert plan.files == ("a.xlsx", "b.csv")  # the run reads every file of the call
    assert plan_calls({"c1": old}, {"c1": old}, attempts, "", NOW, 5, only_new=False)[0].due  # the scheduled run


def test_empty_folders_never_run_and_prefix_names_the_call() -> None:
    files = _files(("a.csv", 1, NOW - 60))
    plans = plan_calls({"e": (), "c": files}, {"e": (), "c": files}, {"p-c": NOW - 10}, "p-", NOW, 5, only_new=False)
    assert [(p.call_id, p.due) for p in plans] == [("p-c", True), ("p-e", False)]


def test_last_attempts_from_library_runs() -> None:
    t0 = NOW - 7200
    runs = _runs(
        ("c1", "succeeded", _iso(t0 + 60), {"started_at": _iso(t0)}),  # the flow's start (manifest) is preferred
        ("c1", "failed", _iso(t0 + 100), {"error": "x"}),  # a failed run counts as an attempt
        ("c1", "succeeded", _iso(t0 + 200), {"kind": "remap", "counts": {}}),  # re-mapping is not consolidation
        ("c2", "interrupted", _iso(t0 + 300), None),  # a crash: retried
        ("c3", "running", _iso(t0 + 400), None),
    )
    assert last_attempts(runs) == {"c1": t0 + 100}
    assert last_attempts(pd.DataFrame()) == {}


def test_artifact_keys_follow_prefects_rule() -> None:
    assert artifact_key("2026-spring") == "consolidate-2026-spring"
    assert artifact_key("2026-spring", "counts") == "consolidate-2026-spring-counts"
    key = artifact_key("成都_2026春")
    assert key.startswith("consolidate-") and all(c.islower() or c.isdigit() or c == "-" for c in key)
    assert key != artifact_key("绵阳_2026春")


def test_summary_and_counts_table() -> None:
    manifest = {
        "call_id": "c1",
        "run_id": "R1",
        "taxonomy": {"version": "v3"},
        "counts": {"accepted": 5, "needs_review": 2, "library_inserted": 5, "quarantined": 1},
        "inputs": [{"file_name": "a.csv", "error": ""}, {"file_name": "b.xlsx", "error": "文件已损坏"}],
        "stage_seconds": {"读取与校验": 0.25},
    }
    text = summary_markdown(manifest, {"report.html": Path("/r/report.html")})
    assert "待复核 2 条" in text and "b.xlsx：文件已损坏" in text and "a.csv" not in text
    assert "| 读取与校验 | 0.2 |" in text or "| 读取与校验 | 0.3 |" in text
    assert "/r/report.html" in text and "v3" in text
    table = counts_table(manifest)
    assert [r["字段"] for r in table] == ["accepted", "quarantined", "needs_review", "library_inserted"]
    assert table[-1]["指标"] == "需求库新增"
    assert table[0] == {"指标": "接收需求", "数量": 5, "字段": "accepted"}
