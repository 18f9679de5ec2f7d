"""Needs raised again across calls are linked to the first submitted earlier demand."""

import csv
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipelines import schema as s
from pipelines.flows import consolidate_call
from pipelines.recurrence import FIRST_CALL, HISTORY, LINKED_DEMAND_ID, RECURRING, call_order, link_recurring
from pipelines.settings import EmbedConfig, PipelineConfig
from pipelines.store import Library


def _frame() -> tuple[pd.DataFrame, np.ndarray]:
    rows = [  # demand, call, file, row, group, enterprise; c3 is the call being run
        ("D1", "c1", "a.xlsx", 5, "G1", "甲公司"),
        ("D2", "c1", "a.xlsx", 3, "G1", "乙公司"),  # same call, earlier row: the first submitted
        ("D3", "c2", "b.xlsx", 2, "G1", "丙公司"),
        ("D4", "c3", "c.xlsx", 2, "G1", "丁公司"),  # re-post of G1
        ("D5", "c3", "c.xlsx", 3, "G2", "戊公司"),  # duplicate only within this call: not recurring
        ("D6", "c3", "c.xlsx", 4, "G2", "戊公司"),
        ("D7", "c3", "c.xlsx", 5, "", "己公司"),
        ("D8", "c4", "d.xlsx", 2, "G3", "庚公司"),  # a later call (re-running c3): never linked to
        ("D9", "c3", "c.xlsx", 6, "G3", "辛公司"),
    ]
    frame = pd.DataFrame(
        rows, columns=[s.DEMAND_ID, s.CALL_ID, s.SOURCE_FILE, s.SOURCE_ROW, s.DUPLICATE_GROUP, s.ENTERPRISE]
    )
    return frame, (frame[s.CALL_ID] == "c3").to_numpy()


ORDER = {"c1": 0, "c2": 1, "c3": 2, "c4": 3}


def test_a_re_post_links_to_the_first_submitted_earlier_demand_with_its_history() -> None:
    frame, in_call = _frame()
    out = link_recurring(frame, in_call, ORDER).set_index(s.DEMAND_ID)
    assert out.loc["D4", [LINKED_DEMAND_ID, FIRST_CALL, RECURRING]].tolist() == ["D2", "c1", True]
    assert out.loc["D4", HISTORY] == "c1：乙公司、甲公司；c2：丙公司；c3：丁公司"
    for demand in ("D5", "D6", "D7", "D9"):  # within-call duplicates, singles, and links to later calls: none
        assert out.loc[demand, [LINKED_DEMAND_ID, RECURRING]].tolist() == ["", False]
    assert not out.loc[["D1", "D2", "D3", "D8"], RECURRING].any()  # context rows are left empty


def test_links_do_not_depend_on_row_order() -> None:
    frame, in_call = _frame()
    shuffled = frame.sample(frac=1.0, random_state=3)
    again = link_recurring(shuffled, in_call[shuffled.index], ORDER)
    first = link_recurring(frame, in_call, ORDER)
    assert again.sort_index()[[LINKED_DEMAND_ID, HISTORY]].equals(first[[LINKED_DEMAND_ID, HISTORY]])


def test_call_order_follows_first_runs_and_puts_a_new_call_last() -> None:
    runs = pd.DataFrame({s.CALL_ID: ["b", "a", "b"], "started_at": ["2026-03", "2026-05", "2026-09"]})
    assert call_order(runs, "new") == {"b": 0, "a": 1, "new": 2}
    assert call_order(runs, "b") == {"b": 0, "a": 1}
    assert call_order(runs.iloc[0:0], "x") == {"x": 0}


# --- end to end: two calls on one library ----------------------------------------------------------------------
def _call(tmp_path: Path, name: str, rows: list[tuple[str, str, str]]) -> Path:
    path = tmp_path / f"{name}.csv"
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["需求编号", "需求名称", "需求描述", "企业名称"])
        writer.writerows(rows)
    return path


def _run(tmp_path: Path, source: Path, call: str, out: str) -> pd.DataFrame:
    config = PipelineConfig(embed=EmbedConfig(cache_dir=tmp_path / "cache"))
    consolidate_call([source], call, tmp_path / out, f"sqlite:///{tmp_path / 'lib.sqlite'}", config, echo=False)
    return pd.read_csv(tmp_path / out / "demands.csv", dtype=str, keep_default_na=False, encoding="utf-8-sig")


FIRST = [
    ("A1", "高镍三元正极材料包覆改性技术", "开发高镍三元正极材料表面包覆工艺，循环寿命≥2000次。", "甲公司"),
    ("A2", "白酒窖池温度智能监测系统", "对浓香型白酒窖池发酵温度进行实时监测，测温精度±0.5℃。", "乙公司"),
]
SECOND = [
    ("B1", "高镍三元正极材料包覆改性技术", "开发高镍三元正极材料表面包覆工艺，循环寿命≥2000次。", "丙公司"),
    ("B2", "中药配方颗粒质量标准研究", "建立中药配方颗粒特征图谱与含量测定方法。", "丁公司"),
]


@pytest.mark.usefixtures("prefect_harness")
def test_a_second_call_links_its_re_posts_and_re_running_the_first_changes_nothing(tmp_path: Path) -> None:
    first = _run(tmp_path, _call(tmp_path, "c1", FIRST), "c1", "a")
    assert not (first[RECURRING] == "true").any()
    second = _run(tmp_path, _call(tmp_path, "c2", SECOND), "c2", "b").set_index(s.EXTERNAL_ID)
    original = first.set_index(s.EXTERNAL_ID).loc["A1", s.DEMAND_ID]
    assert second.loc["B1", [LINKED_DEMAND_ID, FIRST_CALL, RECURRING]].tolist() == [original, "c1", "true"]
    assert second.loc["B1", HISTORY] == "c1：甲公司；c2：丙公司"
    assert second.loc["B2", [LINKED_DEMAND_ID, RECURRING]].tolist() == ["", "false"]
    drafts = pd.read_excel(tmp_path / "b" / "draft_list.xlsx", sheet_name=None)
    rows = pd.concat([f for f in drafts.values() if "条目编号" in f.columns])
    assert rows["往期已提出条数"].fillna(0).astype(int).sum() == 1
    with Library.open(f"sqlite:///{tmp_path / 'lib.sqlite'}") as library:
        before = library.demands().set_index(s.DEMAND_ID)[[s.DUPLICATE_GROUP, s.CLUSTER_ID, s.CHAIN_ID]]
    again = _run(tmp_path, _call(tmp_path, "c1", FIRST), "c1", "c")
    assert not (again[RECURRING] == "true").any()  # an earlier call never links to a later one
    assert again[s.DEMAND_ID].tolist() == first[s.DEMAND_ID].tolist()
    with Library.open(f"sqlite:///{tmp_path / 'lib.sqlite'}") as library:
        after = library.demands().set_index(s.DEMAND_ID)[[s.DUPLICATE_GROUP, s.CLUSTER_ID, s.CHAIN_ID]]
    assert after.equals(before)
