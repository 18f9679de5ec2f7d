"""Similarity primitives shared by duplicate detection and clustering: character shingles, term statistics,
key terms, and nearest neighbours over sentence vectors (faiss)."""

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence

import faiss
import numpy as np

_NON_WORD_RE = re.compile(r"[\W_]+", re.UNICODE)
_CODE_RE = re.compile(r"[a-z]*\d{3,}[a-z]*")  # model numbers such as 811, ncm811, 6061 name a specific object
EXACT_SEARCH_LIMIT = 20_000  # up to this many vectors, neighbours are exact; beyond, an IVF index


def compact(text: str) -> str:
    """Letters and digits only, lowercase: the form in which two texts count as exact copies."""
    return _NON_WORD_RE.sub("", text).lower()


def shingles(text: str, size: int) -> set[str]:
    """Character n-grams of the compacted text (the whole text when it is shorter than n)."""
    text = compact(text)
    if len(text) <= size:
        return {text} if text else set()
    return {text[i : i + size] for i in range(len(text) - size + 1)}


def jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 0.0


class TermStats:
    """Document frequencies of segmented terms over a set of demands, and what follows from them."""

    def __init__(self, token_lists: Iterable[Sequence[str]]) -> None:
        self.df: Counter[str] = Counter()
        self.n = 0
        for tokens in token_lists:
            self.df.update(set(tokens))
            self.n += 1

    def idf(self, term: str) -> float:
        return math.log((1 + self.n) / (1 + self.df.get(term, 0))) + 1.0

    def key_terms(self, title_tokens: Sequence[str], title: str, max_share: float) -> list[str]:
        """Terms that name what a demand is about: rare title terms, and model numbers in the title."""
        limit = max(2.0, max_share * self.n)
        terms = [t for t in dict.fromkeys(title_tokens) if self.df.get(t, 0) <= limit]
        return terms + [c for c in dict.fromkeys(_CODE_RE.findall(compact(title))) if c not in terms]

    def overlap(self, a: Sequence[str], b: Sequence[str]) -> tuple[float, list[str]]:
        """IDF-weighted Jaccard of two term sets in [0, 1], and the shared terms, rarest first."""
        sa, sb = set(a), set(b)
        union = sum(self.idf(t) for t in sa | sb)
        shared = sorted(sa & sb, key=lambda t: (-self.idf(t), t))
        return (sum(self.idf(t) for t in shared) / union if union else 0.0), shared


_ALIAS_RE = re.compile(r"([\u4e00-\u9fff]{2,12})[(（]([A-Za-z][A-Za-z0-9-]{1,11})[)）]")


def aliases(text: str) -> dict[str, str]:
    """Abbreviations a text defines, both ways: "企业资源计划(ERP)" gives 企业资源计划 <-> erp."""
    out = {}
    for full, short in _ALIAS_RE.findall(text):
        out[compact(full)], out[compact(short)] = compact(short), compact(full)
    return out


def missing_terms(terms: Sequence[str], other_text: str, alias: dict[str, str] | None = None) -> list[str]:
    """Key terms of one demand that the other demand's compacted text contains neither as such nor by an alias."""
    alias = alias or {}
    missing = []
    for term in terms:
        key = compact(term)
        if (
            key
            and key not in other_text
            and not any(key in full and short in other_text for full, short in alias.items())
        ):
            missing.append(term)
    return missing


def nearest_neighbours(vectors: np.ndarray, k: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """(similarities, indices), each (n, k), of every row's k nearest other rows by inner product.

    Exact search up to EXACT_SEARCH_LIMIT rows; above it an inverted-file index (probing enough lists that the
    near-duplicates of a row are found in practice), trained with a fixed seed so results are reproducible.
    Missing neighbours are index -1.
    """
    n, dim = vectors.shape
    data = np.ascontiguousarray(vectors, dtype=np.float32)
    k = min(k + 1, n)
    if n <= EXACT_SEARCH_LIMIT:
        index: faiss.Index = faiss.IndexFlatIP(dim)
    else:
        nlist = int(4 * math.sqrt(n))
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)
        index.cp.seed = seed
        index.train(data)
        index.nprobe = 16
    index.add(data)
    sims, idx = index.search(data, k)
    return _drop_self(sims, idx)


def _drop_self(sims: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    rows = np.arange(len(idx))[:, None]
    keep = idx != rows
    out_s = np.full((len(idx), idx.shape[1] - 1), -1.0, dtype=np.float32)
    out_i = np.full((len(idx), idx.shape[1] - 1), -1, dtype=np.int64)
    for r in range(len(idx)):
        found_i, found_s = idx[r][keep[r]][: out_i.shape[1]], sims[r][keep[r]][: out_i.shape[1]]
        out_i[r, : len(found_i)], out_s[r, : len(found_s)] = found_i, found_s
    return out_s, out_i
