"""Numerical kernels of the clustering: nearest neighbours, micro-clusters for large inputs, and size-weighted
average linkage with a distance threshold.

Everything here works on rows already in canonical order (sorted by id) and is deterministic for a given input, so
the callers' results do not depend on row order. Vectors are float32 and L2-normalised unless stated otherwise.

Average linkage on unit vectors needs no pairwise matrix of the items: the mean cosine similarity between the
members of two groups is the dot product of the groups' (unnormalised) mean vectors. So groups of items (micro-
clusters) can be agglomerated exactly from their means and sizes, and the memory is O(m^2) in the number of
groups m (at most `exact_limit`), never O(n^2) in the number of items.
"""

import math

import faiss
import numpy as np
from scipy import sparse

_BLOCK = 1024  # query rows per block in exact neighbour search (memory: _BLOCK x candidates floats)
_CELL_SIZE = 2000  # items per coarse cell when the input is too large for exact search
_PROBE = 3  # coarse cells searched per query cell


def l2_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero), float32."""
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def _top_k(
    queries: np.ndarray, candidates: np.ndarray, cand_index: np.ndarray, self_index: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Indices (into the full input) and similarities of each query's k most similar candidates, self excluded.

    `cand_index` (the candidates' indices into the full input) is sorted ascending."""
    sims = queries @ candidates.T
    at = np.minimum(np.searchsorted(cand_index, self_index), len(cand_index) - 1)  # cand_index is sorted
    is_self = cand_index[at] == self_index
    sims[np.flatnonzero(is_self), at[is_self]] = -np.inf
    k = min(k, candidates.shape[0] - 1)
    part = np.argpartition(-sims, k - 1, axis=1)[:, :k]
    part_sims = np.take_along_axis(sims, part, axis=1)
    order = np.lexsort((cand_index[part], -part_sims), axis=1)  # by similarity, ties by index
    return cand_index[np.take_along_axis(part, order, axis=1)], np.take_along_axis(part_sims, order, axis=1)


def nearest_neighbours(x: np.ndarray, k: int, cells: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """(n, k') neighbour indices and cosine similarities, k' = min(k, n - 1).

    Exact when `cells` is None; otherwise each query searches the members of the `_PROBE` coarse cells whose
    centroids are nearest its own cell's centroid (an inverted-file search over the same cells as the micro-clusters).
    """
    n = x.shape[0]
    everything = np.arange(n)
    if cells is None:
        parts = [_top_k(x[i : i + _BLOCK], x, everything, everything[i : i + _BLOCK], k) for i in range(0, n, _BLOCK)]
        return np.vstack([p[0] for p in parts]), np.vstack([p[1] for p in parts])
    k = min(k, n - 1)
    idx = np.zeros((n, k), dtype=np.int64)
    sim = np.full((n, k), -np.inf, dtype=np.float32)
    centroids = l2_rows(group_means(x, cells)[0])
    near = np.argsort(-(centroids @ centroids.T), axis=1, kind="stable")[:, :_PROBE]
    for cell in range(len(centroids)):
        members = np.flatnonzero(cells == cell)
        pool = np.sort(np.flatnonzero(np.isin(cells, near[cell])))
        if len(pool) < 2:
            continue
        found, sims = _top_k(x[members], x[pool], pool, members, k)
        idx[members, : found.shape[1]], sim[members, : found.shape[1]] = found, sims
    return idx, sim


def group_means(x: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unnormalised mean row (float64) and size of each label 0..max(labels)."""
    sizes = np.bincount(labels)
    ones = np.ones(len(labels), dtype=x.dtype)
    indicator = sparse.csr_matrix((ones, (labels, np.arange(len(labels)))), shape=(len(sizes), len(x)))
    return np.asarray(indicator @ x, dtype=np.float64) / np.maximum(sizes, 1)[:, None], sizes


def _kmeans(x: np.ndarray, k: int, seed: int) -> np.ndarray:
    """faiss k-means labels (deterministic for a given input and seed)."""
    if k <= 1:
        return np.zeros(len(x), dtype=np.int64)
    if k >= len(x):
        return np.arange(len(x), dtype=np.int64)
    km = faiss.Kmeans(x.shape[1], k, niter=20, seed=seed, min_points_per_centroid=1, max_points_per_centroid=512)
    km.train(np.ascontiguousarray(x, dtype=np.float32))
    _, assigned = km.index.search(np.ascontiguousarray(x, dtype=np.float32), 1)
    return np.unique(assigned[:, 0], return_inverse=True)[1]


def coarse_cells(x: np.ndarray, seed: int) -> np.ndarray:
    """About n / _CELL_SIZE k-means cells: the search and micro-clustering partition of a large input."""
    return _kmeans(x, math.ceil(len(x) / _CELL_SIZE), seed)


def micro_clusters(x: np.ndarray, cells: np.ndarray, total: int, seed: int) -> np.ndarray:
    """About `total` small k-means clusters, found cell by cell (each cell gets its share of `total`)."""
    labels = np.zeros(len(x), dtype=np.int64)
    offset = 0
    for cell in range(int(cells.max()) + 1):
        members = np.flatnonzero(cells == cell)
        share = max(1, round(len(members) * total / len(x)))
        labels[members] = _kmeans(x[members], share, seed) + offset
        offset = int(labels[members].max()) + 1 if len(members) else offset
    return labels


def average_linkage(means: np.ndarray, sizes: np.ndarray, threshold: float) -> np.ndarray:
    """Flat clusters of groups (rows of `means`, unnormalised means of unit vectors, with member counts `sizes`).

    Average linkage on cosine distance cut at `threshold`: two clusters are joined while the mean pairwise distance
    between their items is at most `threshold`. Nearest-neighbour-chain algorithm, O(m^2) time and memory; a
    reciprocal pair farther apart than the threshold is final (reducibility: nothing can come closer to either).
    Labels are numbered by the smallest group index in each cluster.
    """
    m = len(sizes)
    rows = np.asarray(means, dtype=np.float32)
    dist = rows @ rows.T  # float32, in place: 400 MB at m = 10,000
    np.subtract(1.0, dist, out=dist)
    np.fill_diagonal(dist, np.inf)
    weight = sizes.astype(np.float64).copy()
    merged_into = np.arange(m)  # gone -> keep (keep < gone), resolved once at the end
    live = np.ones(m, dtype=bool)
    n_live, first_live = m, 0
    chain: list[int] = []
    while n_live > 1:
        if not chain:
            while not live[first_live]:
                first_live += 1
            chain.append(first_live)
        top = chain[-1]
        row = dist[top]
        nearest = int(np.argmin(row))
        if len(chain) > 1 and row[chain[-2]] <= row[nearest]:
            nearest = chain[-2]
        if not np.isfinite(row[nearest]):
            live[top], n_live = False, n_live - 1
            chain.pop()
            continue
        if len(chain) < 2 or nearest != chain[-2]:
            chain.append(nearest)
            continue
        del chain[-2:]
        keep, gone = min(top, nearest), max(top, nearest)
        if row[nearest] > threshold:  # both are final clusters
            for done in (keep, gone):
                live[done] = False
                dist[done, :] = dist[:, done] = np.inf
            n_live -= 2
            continue
        merged = (weight[keep] * dist[keep] + weight[gone] * dist[gone]) / (weight[keep] + weight[gone])
        live[gone], n_live = False, n_live - 1
        dist[gone, :] = dist[:, gone] = np.inf
        merged[gone] = merged[keep] = np.inf  # rows of dead clusters are inf already, so their entries stay inf
        dist[keep, :] = dist[:, keep] = merged
        weight[keep] += weight[gone]
        merged_into[gone] = keep
    for i in range(m):  # merged_into[i] < i was resolved before i
        merged_into[i] = merged_into[merged_into[i]]
    return np.unique(merged_into, return_inverse=True)[1]
