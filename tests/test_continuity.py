"""Earlier calls' ids survive a new call; merges of earlier groups are recorded."""

from pathlib import Path

import pandas as pd
import pytest

from pipelines import schema as s
from pipelines.continuity import IN_CALL, PRIOR, carry_over, changed_context, with_library
from pipelines.flows import consolidate_call
from pipelines.settings import EmbedConfig, PipelineConfig
from pipelines.store import Library


def _frame(rows: list[tuple[str, bool, str, str]]) -> pd.DataFrame:
    """(demand_id, in_call, fresh group, prior group)."""
    frame = pd.DataFrame(rows, columns=[s.DEMAND_ID, IN_CALL, s.DUPLICATE_GROUP, PRIOR[s.DUPLICATE_GROUP]])
    return frame.assign(**{s.CALL_ID: "c"})


def test_a_new_demand_joins_the_earlier_group_under_its_old_id() -> None:
    frame = _frame([("D5", True, "G1", ""), ("D7", False, "G1", "G7"), ("D9", False, "G1", "G7")])
    out, events = carry_over(frame, s.DUPLICATE_GROUP, allow_merge=True)
    assert out[s.DUPLICATE_GROUP].tolist() == ["G7", "G7", "G7"] and events == []


def test_two_earlier_groups_bridged_by_a_new_demand_merge_with_an_event() -> None:
    frame = _frame(
        [("D1", True, "G1", ""), ("D2", False, "G1", "G2"), ("D3", False, "G1", "G3"), ("D4", False, "", "G3")]
    )
    out, events = carry_over(frame, s.DUPLICATE_GROUP, allow_merge=True)
    assert set(out[s.DUPLICATE_GROUP]) == {"G2"}  # D4, G3's other member, moves along
    assert len(events) == 1 and events[0]["old_value"] == "G3" and "D1" in events[0]["evidence"]
    assert changed_context(out, [s.DUPLICATE_GROUP])[s.DEMAND_ID].tolist() == ["D3", "D4"]


def test_clusters_are_never_merged_and_earlier_ids_never_move() -> None:
    rows = [("D1", True, "C1", ""), ("D2", False, "C1", "C2"), ("D3", False, "C1", "C2"), ("D4", False, "C1", "C4")]
    out, events = carry_over(_frame(rows), s.DUPLICATE_GROUP, allow_merge=False)
    assert out[s.DUPLICATE_GROUP].tolist() == ["C2", "C2", "C2", "C4"] and events == []


def test_fresh_groups_of_new_demands_keep_their_derived_id() -> None:
    out, _ = carry_over(
        _frame([("D1", True, "G1", ""), ("D2", True, "G1", ""), ("D3", False, "", "G3")]), s.DUPLICATE_GROUP, True
    )
    assert out[s.DUPLICATE_GROUP].tolist() == ["G1", "G1", "G3"]


def test_with_library_takes_prior_ids_and_excludes_the_call_from_context() -> None:
    call = pd.DataFrame({s.DEMAND_ID: ["D1", "D2"], s.TITLE: ["a", "b"], s.TEXT: ["", ""], s.CALL_ID: "c2"})
    library = pd.DataFrame(
        {s.DEMAND_ID: ["D1", "D9"], s.CALL_ID: ["c2", "c1"], s.TITLE: ["a", "z"], s.TEXT: ["", ""],
         s.DUPLICATE_GROUP: ["G1", ""], s.CLUSTER_ID: ["", "C9"]}
    )  # fmt: skip
    frame = with_library(call, library)
    assert frame[s.DEMAND_ID].tolist() == ["D1", "D2", "D9"]
    assert frame[IN_CALL].tolist() == [True, True, False]
    assert frame[PRIOR[s.DUPLICATE_GROUP]].tolist() == ["G1", "", ""]
    assert frame[PRIOR[s.CLUSTER_ID]].tolist() == ["", "", "C9"]


CALL1 = [
    ("A-1", "高镍三元正极材料包覆改性技术", "开发高镍三元正极材料表面包覆工艺，循环寿命≥2000次，首次效率不低于90%。"),
    ("A-2", "白酒窖池温度智能监测系统", "对浓香型白酒窖池发酵温度实时监测，测温精度±0.5℃，数据上传云平台。"),
    ("A-3", "钛合金航空锻件热处理工艺", "提升TC4钛合金锻件强韧性匹配，抗拉强度≥1100MPa，延伸率≥10%。"),
    ("A-4", "钛合金航空锻件热处理工艺", "提升TC4钛合金锻件强韧性匹配，抗拉强度≥1100MPa，延伸率≥10%。"),
]
CALL2 = [
    ("B-1", "高镍三元正极材料包覆改性技术", "开发高镍三元正极材料表面包覆工艺，循环寿命≥2000次，首次效率不低于90%。"),
    ("B-2", "中药配方颗粒质量标准研究", "建立中药配方颗粒特征图谱与多成分含量测定方法，覆盖30个品种。"),
]


@pytest.mark.usefixtures("prefect_harness")
def test_a_second_call_changes_no_earlier_id(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'lib.sqlite'}"
    config = PipelineConfig(embed=EmbedConfig(cache_dir=tmp_path / "cache"))

    def run(call_id: str, rows: list[tuple[str, str, str]]) -> pd.DataFrame:
        path = tmp_path / f"{call_id}.csv"
        pd.DataFrame(rows, columns=["需求编号", "需求名称", "需求描述"]).to_csv(path, index=False, encoding="utf-8-sig")
        consolidate_call([path], call_id, tmp_path / call_id, db, config, echo=False)
        return pd.read_csv(tmp_path / call_id / "demands.csv", dtype=str, keep_default_na=False, encoding="utf-8-sig")

    first = run("c1", CALL1)
    library = Library.open(db)
    before = library.demands("c1").set_index(s.DEMAND_ID)[[s.DUPLICATE_GROUP, s.CLUSTER_ID]]
    second = run("c2", CALL2).set_index("external_id")
    after = library.demands("c1").set_index(s.DEMAND_ID)[[s.DUPLICATE_GROUP, s.CLUSTER_ID]]
    for column in (s.DUPLICATE_GROUP, s.CLUSTER_ID):  # every earlier id stays; only loners may gain a group
        had = before[column] != ""
        pd.testing.assert_series_equal(before.loc[had, column], after.loc[had, column])
    original = first.set_index("external_id")
    a1 = original.loc["A-1", s.DEMAND_ID]
    assert before.loc[a1, s.DUPLICATE_GROUP] == "" and after.loc[a1, s.DUPLICATE_GROUP] != ""
    assert second.loc["B-1", s.DUPLICATE_GROUP] == after.loc[a1, s.DUPLICATE_GROUP]
    joined = library.events(demand_id=a1, kind="grouping")
    assert (joined["new_value"] == after.loc[a1, s.DUPLICATE_GROUP]).any()
    rerun = run("c2", CALL2).set_index("external_id")
    pd.testing.assert_frame_equal(second, rerun)
    library.close()
