"""The consolidate-call flow end to end, under a Prefect test harness, with the real default encoder."""

import csv
from pathlib import Path

import pandas as pd
import pytest

from pipelines.flows import consolidate_call
from pipelines.settings import EmbedConfig, PipelineConfig
from pipelines.store import Library
from pipelines.taxonomy import load_taxonomy

ROWS = [
    (
        "XQ-001",
        "高镍三元正极材料包覆改性技术",
        "需求内容：开发高镍三元正极材料表面包覆工艺。\n预期目标：循环寿命≥2000次。",
    ),
    (
        "XQ-002",
        "高镍三元正极材料包覆改性技术",
        "需求内容：开发高镍三元正极材料表面包覆工艺。\n预期目标：循环寿命≥2000次。",
    ),
    (
        "XQ-003",
        "白酒窖池温度智能监测系统",
        "需求内容：对浓香型白酒窖池发酵温度进行实时监测。\n预期目标：测温精度±0.5℃。",
    ),
    ("XQ-004", '=HYPERLINK("http://x")', "<script>alert(1)</script>钛合金锻件热处理工艺优化"),
    ("XQ-005", "中药配方颗粒质量标准研究", ""),
    ("XQ-006", "", ""),
]


pytestmark = pytest.mark.usefixtures("prefect_harness")


def _write(path: Path, rows: list[tuple[str, str, str]]) -> Path:
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["需求编号", "需求名称", "需求描述", "企业名称"])
        for i, row in enumerate(rows):
            writer.writerow([*row, f"企业{i % 4}" if row[1] else ""])
    return path


def _run(tmp_path: Path, csv_path: Path, out: str) -> pd.DataFrame:
    config = PipelineConfig(embed=EmbedConfig(cache_dir=tmp_path / "cache"))
    summary = consolidate_call(
        [csv_path], "t-2026", tmp_path / out, f"sqlite:///{tmp_path / 'lib.sqlite'}", config, echo=False
    )
    assert set(summary.outputs) == {
        "demands.csv",
        "clusters.csv",
        "quarantine.csv",
        "draft_list.xlsx",
        "demand_list.xlsx",
        "demand_list.docx",
        "report.html",
        "manifest.json",
        "duplicate_pairs.csv",
        "return_list.xlsx",
    }
    return pd.read_csv(tmp_path / out / "demands.csv", dtype=str, keep_default_na=False, encoding="utf-8-sig")


def test_flow_writes_everything_and_is_idempotent(tmp_path: Path) -> None:
    source = _write(tmp_path / "call.csv", ROWS)
    first = _run(tmp_path, source, "a")
    assert len(first) == 5  # the all-empty row 7 is quarantined
    quarantine = pd.read_csv(tmp_path / "a" / "quarantine.csv", dtype=str, encoding="utf-8-sig")
    assert quarantine["source_row"].tolist() == ["7"]
    assert sorted(first["external_id"]) == ["XQ-001", "XQ-002", "XQ-003", "XQ-004", "XQ-005"]
    taxonomy = load_taxonomy(PipelineConfig().mapping.taxonomy)
    assert all(taxonomy.is_valid(i, c) for i, c in zip(first["industry_id"], first["chain_id"], strict=True))
    by_ext = first.set_index("external_id")
    assert by_ext.loc["XQ-001", "duplicate_group"] == by_ext.loc["XQ-002", "duplicate_group"] != ""
    assert by_ext.loc["XQ-001", "chain_id"] == "EC-BATT"
    assert by_ext.loc["XQ-005", "needs_review"] == "true"

    library = Library.open(f"sqlite:///{tmp_path / 'lib.sqlite'}")
    events_before = len(library.events())
    second = _run(tmp_path, source, "b")
    pd.testing.assert_frame_equal(first, second)
    assert len(library.events()) == events_before  # nothing changed, nothing recorded
    assert len(library.demands("t-2026")) == 5
    library.close()


def test_reordering_rows_changes_no_id_or_group(tmp_path: Path) -> None:
    a = _run(tmp_path, _write(tmp_path / "call.csv", ROWS), "a")
    b = _run(tmp_path, _write(tmp_path / "call.csv", ROWS[::-1]), "b")
    keep = ["demand_id", "external_id", "duplicate_group", "cluster_id", "chain_id"]
    pd.testing.assert_frame_equal(
        a[keep].sort_values("demand_id", ignore_index=True), b[keep].sort_values("demand_id", ignore_index=True)
    )


def test_a_chain_lead_correction_survives_the_next_run(tmp_path: Path) -> None:
    from pipelines.corrections import Correction

    source = _write(tmp_path / "call.csv", ROWS)
    first = _run(tmp_path, source, "a").set_index("external_id")
    target = first.loc["XQ-003", "demand_id"]
    assert first.loc["XQ-003", "chain_id"] != "FT-FOOD"
    library = Library.open(f"sqlite:///{tmp_path / 'lib.sqlite'}")
    report = library.apply_corrections([Correction(target, "FT", "FT-FOOD", "王链长", note="测试")])
    assert not report.problems
    library.close()
    again = _run(tmp_path, source, "b").set_index("external_id")
    assert again.loc["XQ-003", ["industry_id", "chain_id"]].tolist() == ["FT", "FT-FOOD"]
    assert again.loc["XQ-003", "evidence"].startswith("人工更正：王链长")
    assert again.loc["XQ-003", "needs_review"] == "false"


def test_draft_entries_are_scored_with_evidence_and_incomplete_demands_go_on_the_return_list(tmp_path: Path) -> None:
    demands = _run(tmp_path, _write(tmp_path / "call.csv", ROWS), "a")
    sheets = pd.read_excel(tmp_path / "a" / "draft_list.xlsx", sheet_name=None)
    entries = pd.concat([f for f in sheets.values() if "条目编号" in f.columns], ignore_index=True)
    assert entries["综合得分"].between(0, 100).all() and entries["链内排名"].min() == 1
    for column, label in (("紧迫度依据", "紧迫度"), ("解决难易度依据", "解决难易度"), ("市场推广依据", "市场推广")):
        assert entries[column].str.startswith(label).all()
    for chain, ranked in entries.groupby("产业链"):  # within a chain, rank follows the total
        assert ranked.sort_values("链内排名")["综合得分"].is_monotonic_decreasing, chain
    incomplete = demands[demands["incomplete_reason"] != ""]
    assert len(incomplete) and "XQ-005" in set(incomplete["external_id"])  # a title with no description at all
    with Library.open(f"sqlite:///{tmp_path / 'lib.sqlite'}") as library:  # every score decision is in the trail
        scored = library.events(kind="score")
        assert set(scored["demand_id"]) == set(demands["demand_id"]) and scored["evidence"].str.len().gt(0).all()
    _run(tmp_path, _write(tmp_path / "call.csv", ROWS), "again")
    with Library.open(f"sqlite:///{tmp_path / 'lib.sqlite'}") as library:
        assert len(library.events(kind="score")) == len(scored)  # unchanged scores are not recorded again
    returns = pd.read_excel(tmp_path / "a" / "return_list.xlsx")
    assert list(returns.columns)[:2] == ["企业名称", "统一社会信用代码"]
    assert returns["需求（名称与编号）"].str.contains("XQ-005").any()
