import numpy as np
import pandas as pd

from pipelines import schema as s
from pipelines.cluster import cluster_demands, cluster_labels
from pipelines.settings import ClusterConfig


def _frame() -> tuple[pd.DataFrame, np.ndarray]:
    rows = [
        ("D01", "EC", "EC-BATT", "", "正极 包覆 三元"),
        ("D02", "EC", "EC-BATT", "", "正极 包覆 高镍"),
        ("D03", "EC", "EC-BATT", "D02", "正极 包覆 高镍"),  # a duplicate of D02
        ("D04", "EC", "EC-BATT", "", "隔膜 涂覆"),
        ("D05", "FT", "FT-BAIJIU", "", "窖泥 微生物"),
        ("D06", "FT", "FT-BAIJIU", "", "窖泥 培养"),
    ]
    frame = pd.DataFrame(rows, columns=[s.DEMAND_ID, s.INDUSTRY_ID, s.CHAIN_ID, s.DUPLICATE_OF, s.TOKENS])
    a, b, c = np.eye(3, dtype=np.float32)
    vectors = np.vstack([a, a * 0.98 + b * 0.2, a * 0.98 + b * 0.2, b, c, c])  # D05/D06 close, but another chain
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return frame, vectors


def test_similar_demands_cluster_within_a_chain_only() -> None:
    frame, vectors = _frame()
    out = cluster_demands(frame, vectors, ClusterConfig(distance_threshold=0.3)).set_index(s.DEMAND_ID)
    assert out.loc["D01", s.CLUSTER_ID] == out.loc["D02", s.CLUSTER_ID] == out.loc["D03", s.CLUSTER_ID] == "C01"
    assert out.loc["D04", s.CLUSTER_ID] == ""
    assert out.loc["D05", s.CLUSTER_ID] == out.loc["D06", s.CLUSTER_ID] == "C05"
    assert "包覆" in out.loc["D01", s.CLUSTER_LABEL]


def test_a_duplicate_pair_alone_is_not_a_cluster() -> None:
    frame, vectors = _frame()
    pair = frame[frame[s.DEMAND_ID].isin(["D02", "D03"])].reset_index(drop=True)
    out = cluster_demands(pair, vectors[[1, 2]], ClusterConfig(distance_threshold=0.3))
    assert set(out[s.CLUSTER_ID]) == {""}


def test_row_order_does_not_change_clusters() -> None:
    frame, vectors = _frame()
    config = ClusterConfig(distance_threshold=0.3)
    a = cluster_demands(frame, vectors, config).set_index(s.DEMAND_ID)
    b = cluster_demands(frame.iloc[::-1], vectors[::-1], config).set_index(s.DEMAND_ID).loc[a.index]
    pd.testing.assert_frame_equal(a, b)


def test_labels_prefer_distinctive_terms() -> None:
    tokens = pd.Series(["电池 正极", "电池 正极", "电池 窖泥", "电池 窖泥"])
    labels = cluster_labels(tokens, pd.Series(["C1", "C1", "C2", "C2"]), n_terms=1)
    assert labels == {"C1": "正极", "C2": "窖泥"}
