import numpy as np
import pandas as pd
import pytest
from scipy.cluster.hierarchy import fcluster, linkage

from pipelines import schema as s
from pipelines.cluster import cluster_demands, cluster_labels
from pipelines.cluster_linkage import average_linkage
from pipelines.cluster_method import cluster_levels, cluster_vectors
from pipelines.cluster_schema import CLUSTER_GROUP
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


# --- cluster_vectors / cluster_levels -------------------------------------------------------------


def _blobs(centres: np.ndarray, per: int, noise: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors around each centre (row), with their true blob."""
    rng = np.random.default_rng(seed)
    truth = np.repeat(np.arange(len(centres)), per)
    points = centres[truth] + noise * rng.standard_normal((len(truth), centres.shape[1]))
    return (points / np.linalg.norm(points, axis=1, keepdims=True)).astype(np.float32), truth


def _same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    return len(set(zip(a.tolist(), b.tolist(), strict=True))) == len(set(a.tolist())) == len(set(b.tolist()))


def test_separable_blobs_are_recovered_and_every_item_is_assigned() -> None:
    vectors, truth = _blobs(np.eye(32, dtype=np.float32)[:5] * 3, per=20, noise=0.3)
    outlier = np.zeros((1, 32), dtype=np.float32)
    outlier[0, 31] = 1.0
    vectors = np.vstack([vectors, outlier])
    ids = [f"D{i:04d}" for i in range(len(vectors))]
    labels = cluster_vectors(vectors, None, ids, ClusterConfig())
    assert labels.shape == (101,) and labels.min() >= 0
    assert _same_partition(labels[:100], truth)
    assert labels[100] not in set(labels[:100])  # unlike everything: its own cluster, still labelled


def test_cluster_vectors_ignores_row_order_and_uses_terms() -> None:
    vectors, _ = _blobs(np.eye(16, dtype=np.float32)[:3] * 2, per=15, noise=0.5, seed=1)
    tokens = [["正极 包覆", "窖泥 微生物", "隔膜 涂覆"][i % 3] for i in range(len(vectors))]
    ids = [f"D{(7 * i) % 45:04d}" for i in range(len(vectors))]
    config = ClusterConfig(term_weight=0.5)
    base = dict(zip(ids, cluster_vectors(vectors, tokens, ids, config).tolist(), strict=True))
    for seed in range(3):
        perm = np.random.default_rng(seed).permutation(len(ids))
        shuffled = cluster_vectors(vectors[perm], [tokens[i] for i in perm], [ids[i] for i in perm], config)
        assert dict(zip([ids[i] for i in perm], shuffled.tolist(), strict=True)) == base


def test_large_inputs_link_micro_clusters_with_the_same_result() -> None:
    centres = np.eye(24, dtype=np.float32)[:6] * 3
    vectors, truth = _blobs(centres, per=60, noise=0.3, seed=2)
    ids = [f"D{i:04d}" for i in range(len(vectors))]
    config = ClusterConfig(exact_limit=50)  # 360 items > 50: coarse cells, approximate neighbours, micro-clusters
    labels = cluster_vectors(vectors, None, ids, config)
    assert _same_partition(labels, truth)
    perm = np.random.default_rng(0).permutation(len(ids))
    again = cluster_vectors(vectors[perm], None, [ids[i] for i in perm], config)
    assert np.array_equal(again, labels[perm])


def test_average_linkage_matches_scipy() -> None:
    vectors, _ = _blobs(np.random.default_rng(3).standard_normal((6, 12)), per=10, noise=0.6, seed=3)
    for threshold in (0.2, 0.5, 0.9):
        ours = average_linkage(vectors, np.ones(len(vectors)), threshold)
        reference = fcluster(linkage(vectors, "average", metric="cosine"), threshold, "distance")
        assert _same_partition(ours, reference)


def test_second_level_groups_nest_the_clusters() -> None:
    base = np.eye(32, dtype=np.float32)
    centres = np.vstack([base[0] * 2 + base[1], base[0] * 2 + base[2], base[3] * 2 + base[4], base[3] * 2 + base[5]])
    vectors, truth = _blobs(centres, per=15, noise=0.05, seed=4)  # mean distances: 0.35 within a pair, 1.7 across
    ids = [f"D{i:04d}" for i in range(len(vectors))]
    config = ClusterConfig(distance_threshold=0.15, group_threshold=0.8)
    clusters, groups = cluster_levels(vectors, None, ids, config)
    assert _same_partition(clusters, truth)
    assert _same_partition(groups, truth // 2)
    assert all(len(set(groups[clusters == c])) == 1 for c in set(clusters.tolist()))


def test_demand_groups_gather_clusters_of_one_chain() -> None:
    frame, vectors = _frame()
    out = cluster_demands(frame, vectors, ClusterConfig(distance_threshold=0.3, group_threshold=1.5))
    out = out.set_index(s.DEMAND_ID)
    assert out.loc[["D01", "D02", "D03", "D04"], CLUSTER_GROUP].tolist() == ["K01"] * 4  # D04 only at group level
    assert out.loc[["D05", "D06"], CLUSTER_GROUP].tolist() == ["K05"] * 2
    assert out.loc["D04", s.CLUSTER_ID] == ""
    assert out.loc["D04", s.CLUSTER_GROUP_LABEL] == out.loc["D01", s.CLUSTER_GROUP_LABEL] != ""
    assert "窖泥" in out.loc["D05", s.CLUSTER_GROUP_LABEL].split("、")


def test_term_vectors_through_the_gram_matrix_equal_arpack(monkeypatch: pytest.MonkeyPatch) -> None:
    import pipelines.cluster_method as cm

    rng = np.random.default_rng(5)
    few_terms = [" ".join(rng.choice([f"词{i}" for i in range(40)], size=6)) for _ in range(60)]
    few_rows = [" ".join(rng.choice([f"词{i}" for i in range(100)], size=12)) for _ in range(20)]
    for tokens, dims in ((few_terms, 5), (few_terms, 30), (few_rows, 10)):  # Gram of the terms / of the rows
        exact = cm.term_vectors(tokens, dims)
        monkeypatch.setattr(cm, "_GRAM_LIMIT", 0)  # force ARPACK
        arpack = cm.term_vectors(tokens, dims)
        monkeypatch.undo()
        assert exact is not None and arpack is not None and exact.shape == arpack.shape
        np.testing.assert_allclose(exact @ exact.T, arpack @ arpack.T, atol=1e-5)  # the same subspace


def test_a_singleton_names_its_nearest_cluster_in_its_own_chain_first() -> None:
    from pipelines.cluster import nearest_clusters

    frame = pd.DataFrame(
        {
            s.DEMAND_ID: ["D1", "D2", "D3", "D4", "D5"],
            s.INDUSTRY_ID: ["EC", "EC", "FT", "EC", "AM"],
            s.CHAIN_ID: ["EC-BATT", "EC-BATT", "FT-FOOD", "EC-BATT", "AM-VTI"],
            s.CLUSTER_ID: ["C1", "C1", "C3", "", ""],
        }
    )
    a, _, c = np.eye(3, dtype=np.float32)
    vectors = np.vstack([a, a, c, c * 0.9 + a * 0.1, c])  # D4 is closer to C3 but C1 is in its chain
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    out = nearest_clusters(frame, vectors).set_index(s.DEMAND_ID)
    assert out.loc["D4", s.NEAREST_CLUSTER] == "C1"
    assert out.loc["D5", s.NEAREST_CLUSTER] == "C3"  # no cluster in its chain: the closest anywhere
    assert out.loc["D5", s.NEAREST_CLUSTER_SIMILARITY] == pytest.approx(1.0)
    assert out.loc["D1", s.NEAREST_CLUSTER] == "" and np.isnan(out.loc["D1", s.NEAREST_CLUSTER_SIMILARITY])
    assert (out[s.CLUSTER_ID] != "").sum() + (out[s.NEAREST_CLUSTER] != "").sum() == len(out)
