"""Candidate pairs for duplicate detection, as arrays: identical keys, MinHash/LSH over character shingles (rensa),
and each demand's nearest sentence vectors (faiss), with the full-vector cosine of every pair."""

from dataclasses import dataclass

import numpy as np
from rensa import RMinHash, RMinHashLSH

from .dedup_texts import DemandTexts
from .settings import DedupConfig
from .similarity import nearest_neighbours

_BLOCK = 20_000  # pairs whose vectors are gathered at once (20k x 512 float32: 40 MB per side)
_SLICE = 5_000  # demands whose shingles are hashed at once


@dataclass
class Candidates:
    """Pairs (first < second, positions in the frame) in ascending order, and their cosine (NaN without vectors)."""

    first: np.ndarray
    second: np.ndarray
    cosine: np.ndarray


def candidate_pairs(t: DemandTexts, config: DedupConfig, vectors: np.ndarray | None) -> Candidates:
    """Pairs with identical non-empty keys (each with the first demand of its key), pairs MinHash/LSH proposes as
    copies (the exact Jaccard check comes later), and pairs among the nearest vectors with cosine >= reworded_cosine.

    A pair's cosine is the one its nearest-vector check computed, else the dot product of the two vectors.
    """
    n = len(t.keys)
    semantic = _semantic_candidates(vectors, config) if vectors is not None and n > 1 else _empty_pairs()
    sem_codes, where = np.unique(semantic[0] * n + semantic[1], return_index=True)
    exact, lexical = _exact_candidates(t), _lexical_candidates(t, config)
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


def _lexical_candidates(t: DemandTexts, config: DedupConfig) -> np.ndarray:
    """(m, 2) pairs (i < j) that MinHash/LSH proposes as copies."""
    lsh = RMinHashLSH(threshold=config.lsh_threshold, num_perm=config.num_perm, num_bands=config.lsh_bands)
    hashes = []  # in slices: a Python string per shingle of 100k demands would take more than 1 GB
    for start in range(0, len(t.keys), _SLICE):
        shingles = t.shingle_lists(start, start + _SLICE)  # a repeated shingle changes no minimum
        hashes.extend(RMinHash.from_token_sets(shingles, config.num_perm, config.seed))
    for i, mh in enumerate(hashes):
        lsh.insert(i, mh)
    pairs = {(min(i, j), max(i, j)) for i, mh in enumerate(hashes) for j in lsh.query(mh) if i != j}
    return np.array(sorted(pairs), dtype=np.int64).reshape(-1, 2)


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
