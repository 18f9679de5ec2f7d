"""Clustering of sentence vectors (plus segmented terms) into related groups, and a coarser second level.

`cluster_levels` (and its first half, `cluster_vectors`) is pure and permutation-invariant: rows are put in canonical
order (sorted by id) before anything order-dependent. Up to `exact_limit` items nothing is random (the same labels for
any seed); beyond it the micro-clusters come from k-means seeded with `seed`. Every item gets a label; an item unlike
all others is a cluster of its own, never an "outlier". No number of clusters is given: two cosine-distance thresholds
decide (chosen on CSL dev data, see `benchmarks/cluster_bench.py`).

Steps, each switchable in `ClusterConfig` (the benchmark's ablation shows what each one earns):
1. representation: the vectors, centred on their mean (shrunk towards no centring for small inputs, so that what
   every demand of a chain shares does not count as similarity), optionally concatenated with TF-IDF of the segmented
   terms reduced by a truncated SVD, weighted, and L2-normalised;
2. neighbour smoothing: each row plus a similarity-weighted share of its k nearest neighbours, renormalised;
3. average linkage with a distance threshold (over micro-clusters when the input exceeds `exact_limit`);
4. refinement: each item moves to its nearest cluster centroid (a few k-means steps from the linkage result);
5. optional merge of clusters smaller than `merge_below` into the cluster with the nearest centroid;
6. second level: average linkage of the clusters (exact, from their mean vectors) with a wider threshold.
"""

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from scipy import sparse
from scipy.linalg import eigh
from scipy.sparse.linalg import svds
from sklearn.feature_extraction.text import TfidfVectorizer

from .cluster_linkage import (
    average_linkage,
    coarse_cells,
    group_means,
    l2_rows,
    micro_clusters,
    nearest_neighbours,
)
from .settings import ClusterConfig

_BLOCK = 4096  # rows per block where a step would otherwise hold a (rows x neighbours x dim) array
_GRAM_LIMIT = 1000  # term SVD through the dense Gram matrix of the smaller side up to this size, ARPACK beyond


def canonical_order(ids: Sequence[str]) -> np.ndarray:
    """Positions that sort `ids`; raises ValueError on repeated ids (the order would not be canonical)."""
    keys = np.asarray([str(i) for i in ids], dtype=object)
    if len(set(keys)) != len(keys):
        raise ValueError("cluster: ids must be unique")
    return np.argsort(keys, kind="stable")


def term_vectors(tokens: Sequence[str], dims: int) -> np.ndarray | None:
    """L2-normalised truncated SVD of sublinear TF-IDF over the space-separated terms found in at least two items, or
    None when fewer than two such terms exist. Exact eigenvectors of the smaller Gram matrix (or ARPACK from a fixed
    start vector when both sides are large): no seed, the same result every run."""
    vectorizer = TfidfVectorizer(analyzer=str.split, min_df=2, sublinear_tf=True)
    try:
        tfidf = vectorizer.fit_transform(list(tokens))
    except ValueError:  # empty vocabulary
        return None
    dims = min(dims, min(tfidf.shape) - 1)
    if dims < 1:
        return None
    tfidf = tfidf.astype(np.float64)
    if min(tfidf.shape) <= _GRAM_LIMIT:
        return l2_rows(_top_components(tfidf, dims))
    start = np.full(min(tfidf.shape), 1.0 / np.sqrt(min(tfidf.shape)))
    left, singular, _ = svds(tfidf, k=dims, v0=start, solver="arpack")
    return l2_rows(left * singular)


def _top_components(matrix: sparse.csr_matrix, dims: int) -> np.ndarray:
    """U_k S_k of `matrix` (n x v) from the eigenvectors of its smaller Gram matrix (LAPACK, exact, no seed).

    The same subspace as ARPACK's truncated SVD to rounding, and far faster when `dims` is a large share of the
    smaller side (ARPACK then needs ~2 x dims Lanczos vectors and restarts).
    """
    rows_side = matrix.shape[0] <= matrix.shape[1]
    gram = (matrix @ matrix.T if rows_side else matrix.T @ matrix).toarray()
    size = gram.shape[0]
    values, vectors = eigh(gram, subset_by_index=[size - dims, size - 1], driver="evr")
    if rows_side:
        return np.asarray(vectors * np.sqrt(np.maximum(values, 0.0)))
    return np.asarray(matrix @ vectors)


def represent(vectors: np.ndarray, tokens: Sequence[str] | None, config: ClusterConfig) -> np.ndarray:
    """Step 1 on rows in canonical order: centred vectors [+ weighted term vectors], L2-normalised."""
    x = l2_rows(vectors)
    n = len(x)
    if config.center_prior >= 0:
        x = l2_rows(x - x.mean(axis=0) * n / (n + config.center_prior))
    if tokens is not None and config.term_weight > 0:
        terms = term_vectors(tokens, config.term_dims)
        if terms is not None:
            x = l2_rows(np.hstack([x, config.term_weight * terms]))
    return x


def smooth(x: np.ndarray, config: ClusterConfig, cells: np.ndarray | None) -> np.ndarray:
    """Step 2: x_i + w * sum_j max(0, cos_ij) x_j / k over the k nearest neighbours j, renormalised.

    Dividing by the configured k (not by the weights) keeps a small input with dissimilar rows nearly unchanged.
    """
    k = config.smooth_neighbors
    if k < 1 or config.smooth_weight <= 0 or len(x) < 2:
        return x
    idx, sim = nearest_neighbours(x, k, cells)
    weights = np.maximum(sim, 0.0)
    out = np.empty_like(x)
    for start in range(0, len(x), _BLOCK):  # blocks: x[idx] alone would be n x k x dim floats
        rows = slice(start, start + _BLOCK)
        shared = np.einsum("nk,nkd->nd", weights[rows], x[idx[rows]])
        out[rows] = x[rows] + config.smooth_weight * shared / k
    return l2_rows(out)


def _renumber(labels: np.ndarray) -> np.ndarray:
    """Labels 0..k-1 numbered by each cluster's first row (rows are in canonical order)."""
    _, first, inverse = np.unique(labels, return_index=True, return_inverse=True)
    rank = np.empty(len(first), dtype=np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(len(first))
    return rank[inverse]


def link(x: np.ndarray, groups: np.ndarray, threshold: float) -> np.ndarray:
    """Step 3 (and 6): average linkage over the groups of `x` (each group starts as one cluster); item labels."""
    means, sizes = group_means(x, groups)
    if len(sizes) == 1:
        return np.zeros(len(x), dtype=np.int64)
    return average_linkage(means, sizes, threshold)[groups]


def refine(x: np.ndarray, labels: np.ndarray, iterations: int) -> np.ndarray:
    """Step 4: reassign every row to the cluster whose normalised centroid is most similar; repeat."""
    for _ in range(iterations):
        centroids = l2_rows(group_means(x, labels)[0])
        moved = _nearest_centroid(x, centroids)
        if np.array_equal(moved, labels):
            break
        labels = _renumber(moved)
    return labels


def _nearest_centroid(x: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Index of the most similar centroid per row (blocked, so memory stays O(block x clusters))."""
    out = np.empty(len(x), dtype=np.int64)
    for start in range(0, len(x), 4096):
        out[start : start + 4096] = np.argmax(x[start : start + 4096] @ centroids.T, axis=1)
    return out


def merge_small(x: np.ndarray, labels: np.ndarray, below: int) -> np.ndarray:
    """Step 5: clusters with fewer than `below` rows join the larger cluster with the most similar centroid."""
    sizes = np.bincount(labels)
    large = np.flatnonzero(sizes >= below)
    if below <= 1 or len(large) == 0 or len(large) == len(sizes):
        return labels
    centroids = l2_rows(group_means(x, labels)[0])
    target = large[np.argmax(centroids @ centroids[large].T, axis=1)]
    target[large] = large
    return _renumber(target[labels])


class Prepared(NamedTuple):
    """Steps 1-2 done once, so that thresholds can be varied cheaply (`assign_levels`)."""

    order: np.ndarray  # canonical order: input positions sorted by id
    x: np.ndarray  # clustering representation, rows in canonical order
    groups: np.ndarray  # starting groups of step 3: one per row, or micro-clusters for a large input


def prepare(vectors: np.ndarray, tokens: Sequence[str] | None, ids: Sequence[str], config: ClusterConfig) -> Prepared:
    """Canonical order, representation and smoothing (steps 1-2), and the starting groups of the linkage."""
    n = len(ids)
    if np.asarray(vectors).shape[0] != n or (tokens is not None and len(tokens) != n):
        raise ValueError("cluster: vectors, tokens and ids must be row-aligned")
    order = canonical_order(ids)
    x = represent(np.asarray(vectors)[order], None if tokens is None else [tokens[i] for i in order], config)
    cells = coarse_cells(x, config.seed) if n > config.exact_limit else None
    x = smooth(x, config, cells)
    groups = np.arange(n) if cells is None else micro_clusters(x, cells, config.exact_limit, config.seed)
    return Prepared(order, x, groups)


def assign_levels(prepared: Prepared, config: ClusterConfig) -> tuple[np.ndarray, np.ndarray]:
    """Steps 3-6 on a prepared input: (clusters, groups) label arrays in the original row order."""
    order, x, groups = prepared
    labels = _renumber(link(x, groups, config.distance_threshold))
    labels = merge_small(x, refine(x, labels, config.refine_iterations), config.merge_below)
    coarse = _renumber(link(x, labels, config.group_threshold))
    out_fine, out_coarse = np.empty(len(order), dtype=np.int64), np.empty(len(order), dtype=np.int64)
    out_fine[order], out_coarse[order] = labels, coarse
    return out_fine, out_coarse


def cluster_levels(
    vectors: np.ndarray, tokens: Sequence[str] | None, ids: Sequence[str], config: ClusterConfig
) -> tuple[np.ndarray, np.ndarray]:
    """(clusters, groups): two int label arrays row-aligned with the input, every row labelled.

    Groups nest clusters (each cluster lies in one group). Labels are numbered by the smallest id in each cluster or
    group, so the same ids give the same labels whatever the row order.
    """
    if len(ids) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    return assign_levels(prepare(vectors, tokens, ids, config), config)


def cluster_vectors(
    vectors: np.ndarray, tokens: Sequence[str] | None, ids: Sequence[str], config: ClusterConfig
) -> np.ndarray:
    """Cluster labels (ints, row-aligned with the input, every row labelled): the first level of `cluster_levels`.

    `vectors`: (n, dim) sentence vectors; `tokens`: space-joined segmented terms per row, or None to use the vectors
    only; `ids`: unique row ids that define the canonical order.
    """
    return cluster_levels(vectors, tokens, ids, config)[0]
