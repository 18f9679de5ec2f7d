"""The library's search index, so that a new call is compared with the library without recomputing it.

Each indexed demand keeps three things, stored in the library next to the demand (table `demand_index`) and
updated in place: the key of its need text (equal keys are exact copies), its MinHash band keys (rensa digests of
the character shingles, cut into the same bands as duplicate detection's LSH) and its full sentence vector. A call
looks its demands up in that index — equal keys, a shared band, or a library vector among its nearest by inner
product — and only the library demands found (and what must travel with them: the other members of their
duplicate groups and clusters) take part in the run. Erasing a demand's personal data drops its entry, and the
next run indexes it again from its new text; nothing is rebuilt.

Nearest vectors are searched exactly (faiss IndexFlatIP over the stored vectors): for a call of 2,000 against 10^5
demands that is ~10^11 multiply-adds, a few seconds on 2 cores, and no approximate index to keep in step.
"""

import hashlib
from dataclasses import dataclass

import faiss
import numpy as np
import pandas as pd
from rensa import RMinHash

from . import schema as s
from .need_text import need_texts
from .settings import DedupConfig
from .similarity import compact, shingle_hashes

_SLICE = 5_000  # demands hashed at once
_MIX = np.uint64(0x9E3779B97F4A7C15)


@dataclass(frozen=True)
class IndexEntries:
    """Index entries, row-aligned: demand ids, copy keys ("" for an empty text), band keys (n, bands) uint64 and
    full vectors (n, dim) float32, for one encoder."""

    ids: np.ndarray
    copy_keys: np.ndarray
    bands: np.ndarray
    vectors: np.ndarray
    encoder: str

    def __len__(self) -> int:
        return len(self.ids)

    def subset(self, mask: np.ndarray) -> "IndexEntries":
        return IndexEntries(self.ids[mask], self.copy_keys[mask], self.bands[mask], self.vectors[mask], self.encoder)

    @classmethod
    def empty(cls, encoder: str, dim: int = 0, bands: int = 0) -> "IndexEntries":
        return cls(
            np.array([], dtype=object),
            np.array([], dtype=object),
            np.zeros((0, bands), dtype=np.uint64),
            np.zeros((0, dim), dtype=np.float32),
            encoder,
        )


def index_entries(demands: pd.DataFrame, vectors: np.ndarray, encoder: str, config: DedupConfig) -> IndexEntries:
    """The entries of normalised demands (columns of dedup_texts.need_texts) with their full vectors."""
    keys = [compact(text) for text in need_texts(demands)]
    return IndexEntries(
        demands[s.DEMAND_ID].astype(str).to_numpy(dtype=object),
        np.array([hashlib.sha1(k.encode()).hexdigest() if k else "" for k in keys], dtype=object),
        band_keys(keys, config),
        np.asarray(vectors, np.float32),
        encoder,
    )


def band_keys(keys: list[str], config: DedupConfig) -> np.ndarray:
    """(n, lsh_bands) uint64 for compacted need texts: each band of the MinHash digest (num_perm / lsh_bands
    values) folded into one key; two demands share a band key when, and (up to 2^-64 collisions) only when, that
    band of their digests is equal, which is the condition under which LSH proposes them."""
    rows = config.num_perm // config.lsh_bands
    out = []
    for start in range(0, len(keys), _SLICE):
        flat, offsets = shingle_hashes(keys[start : start + _SLICE], config.shingle_size)
        digests = RMinHash.digest_matrix_from_flat_token_hashes(flat, offsets, config.num_perm, config.seed).to_rows()
        matrix = np.array(digests, dtype=np.uint64).reshape(-1, config.lsh_bands, rows)
        folded = np.zeros(matrix.shape[:2], dtype=np.uint64)
        with np.errstate(over="ignore"):
            for r in range(rows):
                folded = (folded ^ matrix[:, :, r]) * _MIX + np.uint64(r + 1)
        out.append(folded)
    return np.vstack(out) if out else np.zeros((0, config.lsh_bands), dtype=np.uint64)


def related_in_library(
    query: IndexEntries, library: IndexEntries, config: DedupConfig, candidates: int, near: int
) -> tuple[np.ndarray, pd.DataFrame]:
    """The library demands a call's demands must be compared with: (their ids, sorted; the found pairs).

    Found pairs (query id, library id, how): an equal copy key ("copy"), a shared MinHash band ("band"), a library
    vector among the query's `candidates` nearest with inner product >= reworded_cosine ("vector"), and the
    query's `near` nearest library vectors whatever their similarity ("near": the clusters it may join).
    """
    if not len(query) or not len(library):
        return np.array([], dtype=object), pd.DataFrame(columns=["query", "library", "how"])
    found = [
        _equal_keys(query, library),
        _shared_bands(query, library),
        _nearest(query, library, config, candidates, near),
    ]
    pairs = pd.concat(found, ignore_index=True).drop_duplicates(["query", "library"], ignore_index=True)
    return np.array(sorted(set(pairs["library"])), dtype=object), pairs


def _equal_keys(query: IndexEntries, library: IndexEntries) -> pd.DataFrame:
    q = pd.DataFrame({"query": query.ids, "key": query.copy_keys})
    lib = pd.DataFrame({"library": library.ids, "key": library.copy_keys})
    pairs = q[q["key"] != ""].merge(lib[lib["key"] != ""], on="key")
    return pairs[["query", "library"]].assign(how="copy")


def _shared_bands(query: IndexEntries, library: IndexEntries) -> pd.DataFrame:
    bands = query.bands.shape[1]

    def long(entries: IndexEntries, name: str) -> pd.DataFrame:
        return pd.DataFrame(
            {
                name: np.repeat(entries.ids, bands),
                "band": np.tile(np.arange(bands), len(entries)),
                "bucket": entries.bands.reshape(-1),
            }
        )

    pairs = long(query, "query").merge(long(library, "library"), on=["band", "bucket"])
    return pairs[["query", "library"]].drop_duplicates().assign(how="band")


def _nearest(query: IndexEntries, library: IndexEntries, config: DedupConfig, k: int, near: int) -> pd.DataFrame:
    k = min(max(k, near), len(library))
    flat = faiss.IndexFlatIP(library.vectors.shape[1])  # exact inner products, top k kept by faiss's heaps
    flat.add(np.ascontiguousarray(library.vectors, dtype=np.float32))
    best, top = flat.search(np.ascontiguousarray(query.vectors, dtype=np.float32), k)
    close = best >= config.reworded_cosine  # exact search: the re-post threshold itself, no margin needed
    keep = (close | (np.arange(k) < near)[None, :]) & (top >= 0)
    rows = np.repeat(np.arange(len(query))[:, None], k, axis=1)
    return pd.DataFrame(
        {
            "query": query.ids[rows[keep]],
            "library": library.ids[top[keep]],
            "how": np.where(close[keep], "vector", "near"),
        }
    )


def with_members(ids: np.ndarray, stored: pd.DataFrame, columns: tuple[str, ...]) -> np.ndarray:
    """`ids` plus every stored demand sharing a non-empty value of `columns` with one of them (the other members
    of their duplicate groups and clusters), sorted."""
    chosen = stored[s.DEMAND_ID].isin(ids)
    for column in columns:
        values = stored.loc[chosen, column].fillna("").astype(str)
        shared = set(values[values != ""])
        chosen |= stored[column].fillna("").astype(str).isin(shared)
    return np.array(sorted(stored.loc[chosen, s.DEMAND_ID]), dtype=object)
