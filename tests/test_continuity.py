"""Earlier calls' ids survive a new call; merges of earlier groups are recorded."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipelines import schema as s
from pipelines.cluster import cluster_demands
from pipelines.continuity import (
    IN_CALL,
    PRIOR,
    carry_earlier_ids,
    carry_groups,
    carry_over,
    changed_context,
    with_library,
)
from pipelines.flows import consolidate_call
from pipelines.settings import ClusterConfig, EmbedConfig, PipelineConfig
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


def test_a_new_call_never_merges_earlier_groups_it_proposes_the_merge_to_staff() -> None:
    frame = _frame(
        [("D1", True, "G1", ""), ("D2", False, "G1", "G2"), ("D3", False, "G1", "G3"), ("D4", False, "", "G3")]
    )
    out, events = carry_over(frame, s.DUPLICATE_GROUP, allow_merge=False, propose=True)
    assert out[s.DUPLICATE_GROUP].tolist() == ["G2", "G2", "G3", "G3"]  # D1 joins one; no earlier id moves
    assert changed_context(out, [s.DUPLICATE_GROUP]).empty
    [event] = events
    assert event["kind"] == "merge_proposal" and (event["old_value"], event["new_value"]) == ("G3", "G2")
    assert "D1" in event["evidence"] and "不自动合并" in event["evidence"]


def test_clusters_are_never_merged_and_earlier_ids_never_move() -> None:
    rows = [("D1", True, "C1", ""), ("D2", False, "C1", "C2"), ("D3", False, "C1", "C2"), ("D4", False, "C1", "C4")]
    out, events = carry_over(_frame(rows), s.DUPLICATE_GROUP, allow_merge=False)
    assert out[s.DUPLICATE_GROUP].tolist() == ["C2", "C2", "C2", "C4"] and events == []


def test_fresh_groups_of_new_demands_keep_their_derived_id() -> None:
    out, _ = carry_over(
        _frame([("D1", True, "G1", ""), ("D2", True, "G1", ""), ("D3", False, "", "G3")]), s.DUPLICATE_GROUP, True
    )
    assert out[s.DUPLICATE_GROUP].tolist() == ["G1", "G1", "G3"]


def _grouped(rows: list[tuple[str, bool, str, str, str]]) -> pd.DataFrame:
    """(demand_id, in_call, cluster after carrying over, fresh cluster group, prior cluster group)."""
    columns = [s.DEMAND_ID, IN_CALL, s.CLUSTER_ID, s.CLUSTER_GROUP, PRIOR[s.CLUSTER_GROUP]]
    return pd.DataFrame(rows, columns=columns).assign(**{s.CALL_ID: "c"})


def test_earlier_cluster_groups_keep_their_ids_and_new_demands_join_them() -> None:
    frame = _grouped(
        [
            ("D1", True, "C2", "K1", ""),  # joined earlier cluster C2: takes C2's group, not the fresh majority
            ("D2", False, "C2", "K1", "K2"),
            ("D3", False, "C3", "K1", "K3"),
            ("D4", False, "C3", "K1", "K3"),
            ("D5", True, "", "K1", ""),  # in no cluster: the group most of its fresh group hold
            ("D6", True, "C6", "K6", ""),  # a fresh group of new demands keeps its derived id
            ("D7", True, "C6", "K6", ""),
            ("D8", False, "", "", "K8"),  # an earlier group no fresh group holds stays as it was
        ]
    )
    out, events = carry_groups(frame, frame[s.CLUSTER_ID])
    assert out[s.CLUSTER_GROUP].tolist() == ["K2", "K2", "K3", "K3", "K3", "K6", "K6", "K8"] and events == []
    assert changed_context(out, [s.CLUSTER_GROUP]).empty
    reordered, _ = carry_groups(frame.iloc[::-1], frame[s.CLUSTER_ID].iloc[::-1])
    assert reordered[s.CLUSTER_GROUP].tolist() == out[s.CLUSTER_GROUP].tolist()[::-1]


def test_ties_between_earlier_groups_do_not_depend_on_row_order() -> None:
    frame = _grouped([("D1", True, "", "K1", ""), ("D2", False, "", "K1", "K9"), ("D3", False, "", "K1", "K4")])
    for order in (frame, frame.iloc[::-1]):
        out, _ = carry_groups(order, order[s.CLUSTER_ID])
        assert out.set_index(s.DEMAND_ID).loc["D1", s.CLUSTER_GROUP] == "K4"


def test_earlier_groups_are_never_merged_a_new_demand_joins_the_group_of_its_cluster() -> None:
    rows = [
        ("D1", True, "C2", "K1", ""),
        ("D2", False, "C2", "K1", "K2"),
        ("D3", False, "C2", "K1", "K3"),
        ("D4", False, "C4", "K1", "K3"),  # K3's other member moves along
        ("D5", False, "C5", "K5", "K5"),
        ("D6", False, "C5", "K5", "K6"),  # recomputation alone put K5 and K6 together: no new demand, no merge
    ]
    frame = _grouped(rows)
    fresh_clusters = pd.Series(["F1", "F1", "F1", "F4", "F5", "F5"])
    out, events = carry_groups(frame, fresh_clusters)
    assert out[s.CLUSTER_GROUP].tolist() == ["K2", "K2", "K3", "K3", "K5", "K6"]  # D1 joins its cluster's group
    assert events == [] and changed_context(out, [s.CLUSTER_GROUP]).empty  # no earlier group id moves


def test_with_library_takes_prior_ids_and_excludes_the_call_from_context() -> None:
    call = pd.DataFrame({s.DEMAND_ID: ["D1", "D2"], s.TITLE: ["a", "b"], s.TEXT: ["", ""], s.CALL_ID: "c2"})
    library = pd.DataFrame(
        {s.DEMAND_ID: ["D1", "D9"], s.CALL_ID: ["c2", "c1"], s.TITLE: ["a", "z"], s.TEXT: ["", ""],
         s.DUPLICATE_GROUP: ["G1", ""], s.CLUSTER_ID: ["", "C9"], s.CLUSTER_GROUP: [None, "K9"]}
    )  # fmt: skip
    frame = with_library(call, library)
    assert frame[s.DEMAND_ID].tolist() == ["D1", "D2", "D9"]
    assert frame[IN_CALL].tolist() == [True, True, False]
    assert frame[PRIOR[s.DUPLICATE_GROUP]].tolist() == ["G1", "", ""]
    assert frame[PRIOR[s.CLUSTER_ID]].tolist() == ["", "", "C9"]
    assert frame[PRIOR[s.CLUSTER_GROUP]].tolist() == ["", "", "K9"]


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
def test_a_second_call_changes_no_earlier_id(tmp_path: Path, library_url: str) -> None:
    db = library_url  # SQLite and PostgreSQL (conftest)
    config = PipelineConfig(embed=EmbedConfig(cache_dir=tmp_path / "cache"))

    def run(call_id: str, rows: list[tuple[str, str, str]]) -> pd.DataFrame:
        path = tmp_path / f"{call_id}.csv"
        pd.DataFrame(rows, columns=["需求编号", "需求名称", "需求描述"]).to_csv(path, index=False, encoding="utf-8-sig")
        consolidate_call([path], call_id, tmp_path / call_id, db, config, echo=False)
        return pd.read_csv(tmp_path / call_id / "demands.csv", dtype=str, keep_default_na=False, encoding="utf-8-sig")

    first = run("c1", CALL1)
    library = Library.open(db)
    ids = [s.DUPLICATE_GROUP, s.CLUSTER_ID, s.CLUSTER_GROUP]
    before = library.demands("c1").set_index(s.DEMAND_ID)[ids].fillna("")
    second = run("c2", CALL2).set_index("external_id")
    after = library.demands("c1").set_index(s.DEMAND_ID)[ids].fillna("")
    for column in ids:  # every earlier id stays; only loners may gain a group
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


def _hierarchy(seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """48 demands of one chain: 4 themes (future groups) x 3 topics (future clusters) x 4 demands. The fourth demand
    of every topic (call 2's) has a smaller id than the other three, so every fresh id of call 2 differs from the
    earlier one: only carrying ids over keeps them."""
    rng = np.random.default_rng(seed)
    eye = np.eye(64, dtype=np.float32)
    centres = [eye[g] * 2 + eye[4 + 3 * g + t] for g in range(4) for t in range(3)]
    vectors = np.vstack([c + rng.normal(0, 0.03, 64) for c in centres for _ in range(4)]).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    topic = np.repeat(np.arange(12), 4)
    frame = pd.DataFrame(
        {
            s.DEMAND_ID: [f"D{i:016x}" for i in _late_first(rng)],
            s.CALL_ID: "c1",
            s.INDUSTRY_ID: "EC",
            s.CHAIN_ID: "EC-BATT",
            s.DUPLICATE_OF: "",
            s.DUPLICATE_GROUP: "",
            s.TOKENS: [f"主题{t // 3} 课题{t}" for t in topic],
        }
    )
    return frame, vectors


def _late_first(rng: np.random.Generator) -> np.ndarray:
    late = np.arange(48) % 4 == 3
    ids = np.empty(48, dtype=np.int64)
    ids[late], ids[~late] = rng.permutation(12) + 1, rng.permutation(36) + 13
    return ids


def test_a_second_call_keeps_every_earlier_cluster_group_through_the_library(library_url: str) -> None:
    frame, vectors = _hierarchy(seed=1)
    config = ClusterConfig(distance_threshold=0.1, group_threshold=0.8)
    first_rows = np.arange(len(frame)) % 4 != 3  # three demands of every topic come in call 1, the fourth in call 2
    first = cluster_demands(frame[first_rows].reset_index(drop=True), vectors[first_rows], config)
    assert first[s.CLUSTER_ID].nunique() == 12 and first[s.CLUSTER_GROUP].nunique() == 4  # the test is not vacuous
    with Library.open(library_url) as library:
        library.save_call(library.start_run("c1", "cfg", "tax", "use"), first, pd.DataFrame())
        call = frame[~first_rows].assign(**{s.CALL_ID: "c2"}).drop(columns=[s.TOKENS])
        joined = with_library(call, library.demands())
        extra = frame.set_index(s.DEMAND_ID).loc[joined[s.DEMAND_ID]]
        joined = joined.assign(**{c: extra[c].to_numpy() for c in (s.DUPLICATE_OF, s.TOKENS)})
        position = dict(zip(frame[s.DEMAND_ID], range(len(frame)), strict=True))
        fresh = cluster_demands(joined, vectors[[position[d] for d in joined[s.DEMAND_ID]]], config)
        out, merges = carry_earlier_ids(fresh, config.label_terms)
        assert merges == [] and changed_context(out, list(PRIOR)).empty  # no earlier id moved, nothing to save
        earlier = first.set_index(s.DEMAND_ID)
        kept = out[~out[IN_CALL]].set_index(s.DEMAND_ID).loc[earlier.index]
        pd.testing.assert_series_equal(kept[s.CLUSTER_GROUP], earlier[s.CLUSTER_GROUP])
        pd.testing.assert_series_equal(kept[s.CLUSTER_ID], earlier[s.CLUSTER_ID])
        new = out[out[IN_CALL]]
        assert new[s.CLUSTER_GROUP].isin(set(earlier[s.CLUSTER_GROUP])).all()  # new demands joined earlier groups
        topics = frame.set_index(s.DEMAND_ID)[s.TOKENS]
        by_topic = out.groupby(out[s.DEMAND_ID].map(topics))[[s.CLUSTER_ID, s.CLUSTER_GROUP]].nunique()
        assert (by_topic == 1).all().all()  # each new demand sits with its topic's earlier cluster and group
        assert (out.groupby(s.CLUSTER_ID)[s.CLUSTER_GROUP].nunique() == 1).all()  # groups still nest clusters
        assert new[s.CLUSTER_GROUP_LABEL].str.contains("主题").all()
