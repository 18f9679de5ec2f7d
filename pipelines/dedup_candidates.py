"""Candidate pairs for duplicate detection, as arrays: identical keys, MinHash/LSH over character shingles (rensa),
and each demand's nearest sentence vectors (faiss), with the full-vector cosine of every pair."""

from dataclasses import dataclass

import numpy as np

from .dedup_texts import DemandTexts
from .demand_index import band_keys
from .settings import DedupConfig
from .similarity import nearest_neighbours

_BLOCK = 20_000  # pairs whose vectors are gathered at once (20k x 512 float32: 40 MB per side)


@dataclass
class Candidates:
    """Pairs (first < second, positions in the frame) in ascending order, and their cosine (NaN without vectors)."""

    first: np.ndarray
    second: np.ndarray
    cosine: np.ndarray


def candidate_pairs(
    t: DemandTexts,
    config: DedupConfig,
    vectors: np.ndarray | None,
    query: np.ndarray | None = None,
    bands: np.ndarray | None = None,
) -> Candidates:
    """Pairs with identical non-empty keys (each with the first demand of its key), pairs MinHash/LSH proposes as
    copies (the exact Jaccard check comes later), and pairs among the nearest vectors with cosine >= reworded_cosine.

    A pair's cosine is the one its nearest-vector check computed, else the dot product of the two vectors.
    `query` (bool mask): only pairs with at least one of these demands (the others were judged by earlier runs);
    `bands`: the demands' MinHash band keys when already computed (demand_index.band_keys), else computed here.
    """
    n = len(t.keys)
    semantic = _semantic_candidates(vectors, config) if vectors is not None and n > 1 else _empty_pairs()
    exact = _exact_candidates(t)
    lexical = band_candidates(band_keys(t.keys, config) if bands is None else bands)
    if query is not None:
        asked = np.asarray(query, dtype=bool)
        exact, lexical = exact[asked[exact].any(axis=1)], lexical[asked[lexical].any(axis=1)]
        touching = asked[semantic[0]] | asked[semantic[1]]
        semantic = (semantic[0][touching], semantic[1][touching], semantic[2][touching])
    sem_codes, where = np.unique(semantic[0] * n + semantic[1], return_index=True)
    codes = np.unique(np.concatenate([exact[:, 0] * n + exact[:, 1], lexical[:, 0] * n + lexical[:, 1], sem_codes]))
    first, second = np.divmod(codes, n)
    cosine = np.full(len(codes), np.nan)
    if vectors is not None:
        at = np.minimum(np.searchsorted(sem_codes, codes), max(len(sem_codes) - 1, 0))
        found = sem_codes[at] == codes if len(sem_codes) else np.zeros(len(codes), dtype=bool)
        cosine[found] = semantic[2][where][at[found]]
        cosine[~found] = _dot(vectors, first[~found], second[~found])
    return Candidates(first, second, cosine)


def _empty_pairs() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64)


def _exact_candidates(t: DemandTexts) -> np.ndarray:
    """(m, 2) pairs of each demand with the first demand of the same non-empty key."""
    first: dict[str, int] = {}
    pairs = [(first[key], i) for i, key in enumerate(t.keys) if key and first.setdefault(key, i) != i]
    return np.array(pairs, dtype=np.int64).reshape(-1, 2)


def band_candidates(bands: np.ndarray) -> np.ndarray:
    """(m, 2) pairs (i < j) that share a MinHash band: the pairs MinHash/LSH proposes as copies."""
    n, width = bands.shape
    if n < 2:
        return np.zeros((0, 2), dtype=np.int64)
    rows = np.tile(np.arange(n, dtype=np.int64), width)
    band = np.repeat(np.arange(width, dtype=np.int64), n)
    bucket = bands.T.reshape(-1)
    order = np.lexsort((rows, bucket, band))
    band, bucket, rows = band[order], bucket[order], rows[order]
    starts = np.flatnonzero(np.r_[True, (band[1:] != band[:-1]) | (bucket[1:] != bucket[:-1])])
    sizes = np.diff(np.r_[starts, len(rows)])
    codes = []
    for size in np.unique(sizes[sizes > 1]):  # all buckets of one size at once: their pairs by index arithmetic
        first = starts[sizes == size]
        i, j = np.triu_indices(size, k=1)
        members = rows[first[:, None] + np.arange(size)[None, :]]
        codes.append(np.unique(members[:, i] * n + members[:, j]))
    if not codes:
        return np.zeros((0, 2), dtype=np.int64)
    first_of, second_of = np.divmod(np.unique(np.concatenate(codes)), n)
    return np.stack([first_of, second_of], axis=1)


def _semantic_candidates(vectors: np.ndarray, config: DedupConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs (i < j) among each demand's nearest neighbours whose full-vector cosine is >= reworded_cosine, with it
    (a pair found from both sides appears twice)."""
    sims, idx = nearest_neighbours(vectors, config.neighbours, config.seed)
    rows, cols = np.nonzero((idx >= 0) & (sims >= config.reworded_cosine - 0.05))  # projected search: a margin
    a, b = rows, idx[rows, cols]
    del sims, idx
    cosine = np.concatenate(
        [
            np.einsum("ij,ij->i", vectors[a[k : k + _BLOCK]], vectors[b[k : k + _BLOCK]])
            for k in range(0, len(a), _BLOCK)
        ]
        or [np.zeros(0)]
    )
    keep = cosine >= config.reworded_cosine
    a, b = a[keep], b[keep]
    return np.minimum(a, b), np.maximum(a, b), cosine[keep].astype(np.float64)


def _dot(vectors: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """vectors[a[p]] @ vectors[b[p]] for every p (np.vecdot computes exactly what the 1-D `@` computes)."""
    out = np.zeros(len(a), dtype=np.float64)
    for k in range(0, len(a), _BLOCK):
        out[k : k + _BLOCK] = np.vecdot(vectors[a[k : k + _BLOCK]], vectors[b[k : k + _BLOCK]])
    return out
