import numpy as np
import pandas as pd

from pipelines import schema as s
from pipelines.drafts import build_clusters, build_drafts, entry_ids


def _demands() -> pd.DataFrame:
    rows = [
        # id, chain, cluster, dup group, dup_of, enterprise, credit code, region, funding, text
        ("D01", "EC-BATT", "C01", "G01", "", "甲公司", "91510100MA0000001A", "成都市", 100.0, "长一些的正文描述"),
        ("D02", "EC-BATT", "C01", "G01", "D01", "甲公司（成都）", "91510100MA0000001A", "成都市", 50.0, "短"),
        ("D03", "EC-BATT", "C01", "", "", "乙公司", "", "宜宾市", np.nan, "正文"),
        ("D04", "EC-BATT", "", "G04", "", "丙公司", "", "遂宁市", 20.0, "正文正文"),
        ("D05", "EC-BATT", "", "G04", "D04", "丁公司", "", "", 0.0, "正文正文"),
        ("D06", "AM-VTI", "", "", "", "戊公司", "", "攀枝花市", 5.0, "钛"),
    ]
    cols = [s.DEMAND_ID, s.CHAIN_ID, s.CLUSTER_ID, s.DUPLICATE_GROUP, s.DUPLICATE_OF, s.ENTERPRISE, s.CREDIT_CODE]
    frame = pd.DataFrame(rows, columns=[*cols, s.REGION, s.FUNDING, s.CORE_TEXT])
    return frame.assign(
        **{
            s.TITLE: frame[s.DEMAND_ID] + "标题",
            s.INDUSTRY_ID: frame[s.CHAIN_ID].str[:2],
            s.INDUSTRY: "产业",
            s.CHAIN: "链",
            s.CLUSTER_LABEL: np.where(frame[s.CLUSTER_ID] != "", "正极、包覆", ""),
            s.CONFIDENCE: 0.8,
            s.NEEDS_REVIEW: [False, False, True, False, False, True],
        }
    )


def test_entries_are_clusters_then_groups_then_singles() -> None:
    assert entry_ids(_demands()).tolist() == ["C01", "C01", "C01", "G04", "G04", "S06"]


def test_draft_rows_count_enterprises_by_credit_code_and_sum_funding() -> None:
    drafts = build_drafts(_demands()).set_index(s.ENTRY_ID)
    assert list(drafts.columns) == s.DRAFT_COLUMNS[1:]
    cluster = drafts.loc["C01"]
    assert cluster["entry_kind"] == "cluster" and cluster["member_count"] == 3
    assert cluster["enterprise_count"] == 2  # 甲公司 twice under one credit code
    assert cluster["duplicate_rows"] == 1 and cluster["funding_total"] == 150.0
    assert cluster["draft_title"] == "D01标题" and cluster["needs_review_count"] == 1
    assert cluster["regions"] == "宜宾市、成都市"
    assert drafts.loc["G04", "entry_kind"] == "duplicate_group" and drafts.loc["G04", "enterprise_count"] == 2
    assert drafts.loc["S06", "entry_kind"] == "single" and drafts.loc["S06", "label"] == ""


def test_every_demand_is_in_exactly_one_entry() -> None:
    drafts = build_drafts(_demands())
    members = [m for ids in drafts["member_ids"] for m in ids.split(";")]
    assert sorted(members) == sorted(_demands()[s.DEMAND_ID])


def test_clusters_table() -> None:
    clusters = build_clusters(_demands())
    assert list(clusters.columns) == s.CLUSTERS_EXPORT_COLUMNS
    assert clusters[s.CLUSTER_ID].tolist() == ["C01"]
    assert clusters.loc[0, "size"] == 3 and clusters.loc[0, "n_duplicate_groups"] == 1


def test_entries_and_clusters_carry_their_coarser_group() -> None:
    grouped = _demands().assign(
        **{
            s.CLUSTER_GROUP: ["K01", "K01", "K01", "K01", "K01", ""],
            s.CLUSTER_GROUP_LABEL: ["正极、电池"] * 5 + [""],
        }
    )
    drafts = build_drafts(grouped).set_index(s.ENTRY_ID)
    assert drafts.loc[["C01", "G04"], s.CLUSTER_GROUP].tolist() == ["K01", "K01"]
    assert drafts.loc["C01", s.CLUSTER_GROUP_LABEL] == "正极、电池"
    assert drafts.loc["S06", s.CLUSTER_GROUP] == "" and drafts.loc["S06", s.CLUSTER_GROUP_LABEL] == ""
    clusters = build_clusters(grouped)
    assert clusters[[s.CLUSTER_GROUP, s.CLUSTER_GROUP_LABEL]].values.tolist() == [["K01", "正极、电池"]]
    assert (build_clusters(_demands())[s.CLUSTER_GROUP] == "").all()  # a frame without groups: blank, not missing
