"""Similarity primitives shared by duplicate detection and clustering: character shingles, term statistics,
key terms, and nearest neighbours over sentence vectors (faiss)."""

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence

import faiss
import numpy as np
from sklearn.utils.extmath import randomized_svd

_NON_WORD_RE = re.compile(r"[\W_]+", re.UNICODE)
_CODE_RE = re.compile(r"[a-z]*\d{3,}[a-z]*")  # model numbers such as 811, ncm811, 6061 name a specific object
EXACT_SEARCH_LIMIT = 5_000  # up to this many vectors, neighbours are exact; beyond, PCA + an IVF index
REDUCED_DIM = 64


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
        self._idf = {term: math.log((1 + self.n) / (1 + count)) + 1.0 for term, count in self.df.items()}
        self._unseen = math.log(1 + self.n) + 1.0

    def idf(self, term: str) -> float:
        return self._idf.get(term, self._unseen)

    def key_terms(self, title_tokens: Sequence[str], title: str, max_share: float) -> list[str]:
        """Terms that name what a demand is about: rare title terms, and model numbers in the title."""
        limit = max(2.0, max_share * self.n)
        terms = [t for t in dict.fromkeys(title_tokens) if self.df.get(t, 0) <= limit]
        return terms + [c for c in dict.fromkeys(_CODE_RE.findall(compact(title))) if c not in terms]

    def overlap(self, a: Sequence[str], b: Sequence[str]) -> tuple[float, list[str]]:
        """IDF-weighted Jaccard of two term sets in [0, 1], and the shared terms, rarest first."""
        sa, sb = set(a), set(b)
        idf, unseen = self._idf, self._unseen
        union = sum(idf.get(t, unseen) for t in sa | sb)
        shared = sorted(sa & sb, key=lambda t: (-idf.get(t, unseen), t))
        return (sum(idf.get(t, unseen) for t in shared) / union if union else 0.0), shared


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

    Up to EXACT_SEARCH_LIMIT rows the search is exact. Above it, vectors are projected on their first
    REDUCED_DIM principal axes and searched with an inverted-file index, both trained on a fixed-seed sample, so
    results are reproducible; the similarities are then those of the projection (callers re-check candidates on
    the full vectors). Missing neighbours are index -1.
    """
    n, dim = vectors.shape
    data = np.ascontiguousarray(vectors, dtype=np.float32)
    k = min(k + 1, n)
    if n <= EXACT_SEARCH_LIMIT:
        flat = faiss.IndexFlatIP(dim)
        flat.add(data)
        sims, idx = flat.search(data, k)
        return _drop_self(sims, idx)
    rng = np.random.default_rng(seed)
    sample = data[np.sort(rng.choice(n, size=min(n, 30_000), replace=False))]
    reduced = min(dim, REDUCED_DIM)
    _, _, axes = randomized_svd(sample - sample.mean(axis=0), reduced, n_iter=3, random_state=seed)
    projected = np.ascontiguousarray(data @ axes.T, dtype=np.float32)
    faiss.normalize_L2(projected)
    nlist = int(2 * math.sqrt(n))
    index = faiss.IndexIVFFlat(faiss.IndexFlatIP(reduced), reduced, nlist, faiss.METRIC_INNER_PRODUCT)
    index.cp.seed = seed
    index.train(projected[np.sort(rng.choice(n, size=min(n, 64 * nlist), replace=False))])
    index.nprobe = 8
    index.add(projected)
    sims, idx = index.search(projected, k)
    return _drop_self(sims, idx)


def _drop_self(sims: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Remove each row's own entry (or its last one when it is absent), keeping k columns."""
    rows = np.arange(len(idx))[:, None]
    is_self = idx == rows
    drop = np.where(is_self.any(axis=1), is_self.argmax(axis=1), idx.shape[1] - 1)
    keep = np.ones(idx.shape, dtype=bool)
    keep[np.arange(len(idx)), drop] = False
    width = idx.shape[1] - 1
    return sims[keep].reshape(len(idx), width), idx[keep].reshape(len(idx), width).astype(np.int64)


_SENTENCE_END_RE = re.compile(r"[。；;！!？?\n]+")
MIN_SENTENCE_CHARS = 4


def sentences(text: str) -> list[str]:
    """The text's sentences (split at 。；！？ and line breaks), stripped; fragments under 4 letters/digits dropped."""
    parts = (p.strip(" ,，:：、") for p in _SENTENCE_END_RE.split(text))
    return [p for p in parts if len(compact(p)) >= MIN_SENTENCE_CHARS]


def bigrams(text: str) -> frozenset[str]:
    """Character bigrams of the compacted text."""
    key = compact(text)
    return frozenset(key[i : i + 2] for i in range(len(key) - 1)) or frozenset([key])


def alignment(similarity: np.ndarray) -> float:
    """Mean best-match similarity of an (m, n) sentence-by-sentence matrix, both directions averaged; 0 if empty.

    1.0 when every sentence of each text has an identical counterpart in the other, in any order.
    """
    if similarity.size == 0:
        return 0.0
    return float(0.5 * (similarity.max(axis=1).mean() + similarity.max(axis=0).mean()))


def lexical_alignment(a: Sequence[frozenset[str]], b: Sequence[frozenset[str]]) -> float:
    """`alignment` of two sentence lists given as bigram sets, sentence similarity = bigram Jaccard, in [0, 1]."""
    if not a or not b:
        return 0.0
    sim = np.array([[len(x & y) / len(x | y) if x or y else 0.0 for y in b] for x in a], dtype=np.float32)
    return alignment(sim)
