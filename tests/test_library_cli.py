"""`ningliang library`: search, a demand's history across calls, a chain's open demands, new / recurring / answered."""

from collections.abc import Sequence

import pandas as pd
import pytest
from click.testing import CliRunner

from pipelines import schema as s
from pipelines.cli import main
from pipelines.corrections import Correction
from pipelines.decisions import StaffDecision
from pipelines.library_queries import since, with_status
from pipelines.store import Library

A1, A2, A3, A4, A5 = (f"D{i:016x}" for i in range(1, 6))
B1, B2 = (f"D{i:016x}" for i in range(11, 13))
GROUP, CLUSTER = "G" + "a" * 16, "C" + "b" * 16
#      id, external, title, enterprise, chain, duplicate group, cluster
FIRST = [
    (A1, "X-1", "全钒液流电池电解液制备", "甲公司", "EC-BATT", GROUP, ""),
    (A2, "X-2", "锂电池隔膜涂覆工艺", "乙公司", "EC-BATT", "", CLUSTER),
    (A3, "X-3", "锂电池隔膜孔隙率检测", "丙公司", "EC-BATT", "", CLUSTER),
    (A4, "X-4", "电池管理系统芯片国产化", "丁公司", "EC-BATT", "", ""),
    (A5, "X-5", "动力电池回收BMS检测", "戊公司", "EC-BATT", "", ""),
]
SECOND = [
    (B1, "Y-1", "全钒液流电池电解液低成本制备", "己公司", "EC-BATT", GROUP, ""),
    (B2, "X-1", "碳纤维复合材料成型", "庚公司", "AM-CHEMMAT", "", ""),
]


def _frame(call: str, rows: Sequence[tuple[str, ...]]) -> pd.DataFrame:
    ids, ext, titles, enterprises, chains, groups, clusters = zip(*rows, strict=True)
    return pd.DataFrame(
        {
            s.DEMAND_ID: ids, s.CALL_ID: call, s.EXTERNAL_ID: ext, s.TITLE: titles,
            s.TEXT: [t + "，需求描述。" for t in titles], s.ENTERPRISE: enterprises, s.REGION: "成都市",
            s.SOURCE_FILE: f"{call}.csv", s.SOURCE_ROW: range(2, 2 + len(rows)),
            s.INDUSTRY_ID: [c.split("-")[0] for c in chains], s.CHAIN_ID: chains, s.EVIDENCE: "判定：测试",
            s.DUPLICATE_GROUP: groups, s.CLUSTER_ID: clusters,
        }
    )  # fmt: skip


@pytest.fixture
def db(library_url: str) -> str:
    """The two calls with decisions and a correction, on each backend (conftest's library_url)."""
    url = library_url
    with Library.open(url) as library:
        for call, rows in (("c1", FIRST), ("c2", SECOND)):
            run = library.start_run(call, "cfg", "2026.11-1", "use")
            library.save_call(run, _frame(call, rows), pd.DataFrame())
            library.finish_run(run, "succeeded", {})
        single = {a: "S" + a[1:] for a in (A4, A5)}
        report = library.apply_staff_decisions(
            [
                StaffDecision(CLUSTER, "accept", "张三"),
                StaffDecision(single[A4], "withdraw", "李四", "企业已自行解决", demand_ids=(A4,)),
                StaffDecision(single[A5], "reject", "李四", "不属重大任务"),
                StaffDecision(GROUP, "retitle", "张三", new_title="全钒液流电池电解液"),
            ]
        )
        assert not report.problems and len(report.applied) == 4
        fixed = library.apply_corrections([Correction(B1, "AM", "AM-VTI", "王五", note="钒属钒钛链")])
        assert not fixed.problems
    return url


def _invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["library", *args])
    return result.exit_code, result.output


def test_search_finds_chinese_substrings_newest_call_first_and_filters(db: str) -> None:
    code, out = _invoke("search", "电解液", "--db", db)
    assert code == 0, out
    lines = out.splitlines()
    assert "包含“电解液”的需求 2 条" in lines[0] and "需求名称" in lines[1]
    assert B1 in lines[2] and "c2" in lines[2] and "己公司" in lines[2]  # the newer call first
    assert A1 in lines[3] and "c1" in lines[3] and "甲公司" in lines[3] and "待定" in lines[3]
    code, out = _invoke("search", "ｂｍｓ", "--db", db)  # full width, lower case
    assert code == 0 and A5 in out and "不采纳" in out
    code, out = _invoke("search", "锂电池", "--call", "c1", "--chain", "EC-BATT", "--db", db)
    assert code == 0 and A2 in out and A3 in out and "已采纳" in out and B1 not in out
    code, out = _invoke("search", "锂电池", "--call", "c2", "--db", db)
    assert code == 0 and "没有找到包含“锂电池”的需求" in out


def test_history_shows_the_duplicate_group_across_calls_and_the_events_in_time_order(db: str) -> None:
    code, out = _invoke("history", "Y-1", "--db", db)
    assert code == 0, out
    assert f"需求 {B1}（原始编号 Y-1，批次 c2）" in out and "己公司" in out
    assert f"重复组 {GROUP}：2 条，批次 c1、c2；企业 甲公司、己公司" in out
    group = out[out.index("重复组") :]
    assert group.index(A1) < group.index(B1) and "← 本条" in group
    events = out[out.index("决定记录") :].splitlines()[2:]
    kinds = [next(k for k in ("产业映射", "查重/聚类", "清单审核决定", "人工更正") if k in line) for line in events]
    assert kinds.index("清单审核决定") > max(i for i, k in enumerate(kinds) if k == "查重/聚类")
    assert kinds.count("人工更正") == 2 and kinds[-1] == "人工更正"  # the correction came last
    assert any("王五" in line and "AM-VTI" in line for line in events)
    assert any("张三" in line and "改标题" in line for line in events)


def test_history_errors_are_one_clear_chinese_line(db: str) -> None:
    code, out = _invoke("history", "nope", "--db", db)
    assert code == 2 and "需求库中没有需求编号或原始编号为“nope”的需求" in out
    code, out = _invoke("history", "X-1", "--db", db)  # two calls used the same external id
    assert code == 2 and "对应多条需求" in out and A1 in out and B2 in out
    code, out = _invoke("history", A1, "--db", db)
    assert code == 0 and f"需求 {A1}" in out


def test_open_lists_the_chains_open_demands_by_entry(db: str) -> None:
    code, out = _invoke("open", "--chain", "EC-BATT", "--db", db)
    assert code == 0, out
    assert "产业链 EC-BATT 的未决需求 3 条，分属 2 个清单条目" in out  # B1 moved to AM-VTI by a correction
    assert f"条目 {CLUSTER}（2 条）" in out and f"条目 {GROUP}（1 条）" in out
    assert A4 not in out and A5 not in out  # withdrawn, rejected
    assert out.index(CLUSTER) < out.index(A2) < out.index(A3) < out.index(GROUP) < out.index(A1)
    code, out = _invoke("open", "--chain", "NOPE", "--db", db)
    assert code == 2 and "需求库中没有产业链“NOPE”的需求" in out


def test_since_splits_new_recurring_and_answered(db: str) -> None:
    code, out = _invoke("since", "--db", db)
    assert code == 0, out
    assert out.splitlines()[0] == "批次 c2（上一批次 c1）：新增 1 条，往期再次提出 1 条，往期需求已答复 3 条"
    new = out[out.index("新增需求") : out.index("往期再次提出 1 条：")]
    recurring = out[out.index("往期再次提出 1 条：") : out.index("已答复的往期需求")]
    answered = out[out.index("已答复的往期需求") :]
    assert B2 in new and B1 not in new
    assert B1 in recurring and "c1" in recurring and A1 in recurring  # the earlier call and its first demand
    assert A2 in answered and A3 in answered and A4 in answered and A5 not in answered and A1 not in answered
    assert "已撤回" in answered and "已采纳" in answered
    code, out = _invoke("since", "--call", "c1", "--db", db)
    assert code == 0 and "批次 c1（此前没有批次）：新增 5 条，往期再次提出 0 条，往期需求已答复 0 条" in out
    code, out = _invoke("since", "--call", "nope", "--db", db)
    assert code == 2 and "需求库中没有批次“nope”（已有批次：c1、c2）" in out


def test_answered_counts_only_decisions_taken_since_the_previous_call(db: str) -> None:
    with Library.open(db) as library:
        frame = with_status(library.demands(), library.staff_decisions(), library.runs())
        runs = library.runs()
    late = runs.assign(started_at=runs["started_at"].where(runs[s.CALL_ID] != "c1", "9999-01-01"))
    assert since(frame, late, "c2").answered.empty  # every decision predates that (made-up) start of c1
