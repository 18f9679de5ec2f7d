"""Similarity primitives of duplicate detection: character shingles, term statistics, key terms, nearest neighbours
over sentence vectors (faiss), and sparse set matrices whose row-wise products give set intersections for many pairs
at once."""

import hashlib
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

import faiss
import numpy as np
import pandas as pd
from scipy import sparse
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

    def __init__(self, df: Mapping[str, int], n: int) -> None:
        self.df = df
        self.n = n
        self._idf = {term: math.log((1 + n) / (1 + count)) + 1.0 for term, count in df.items()}
        self._unseen = math.log(1 + n) + 1.0

    @classmethod
    def from_tokens(cls, token_lists: Iterable[Sequence[str]]) -> "TermStats":
        df: Counter[str] = Counter()
        n = 0
        for tokens in token_lists:
            df.update(set(tokens))
            n += 1
        return cls(df, n)

    def idf(self, term: str) -> float:
        return self._idf.get(term, self._unseen)

    def key_terms(self, title_tokens: Sequence[str], title: str, max_share: float) -> list[str]:
        """Terms that name what a demand is about: rare title terms, and model numbers in the title."""
        limit = max(2.0, max_share * self.n)
        terms = [t for t in dict.fromkeys(title_tokens) if self.df.get(t, 0) <= limit]
        return terms + [c for c in dict.fromkeys(_CODE_RE.findall(compact(title))) if c not in terms]

    def shared(self, a: Sequence[str], b: Sequence[str]) -> list[str]:
        """The terms two term lists share, rarest first."""
        idf, unseen = self._idf, self._unseen
        return sorted(set(a) & set(b), key=lambda t: (-idf.get(t, unseen), t))

    def overlap(self, a: Sequence[str], b: Sequence[str]) -> tuple[float, list[str]]:
        """IDF-weighted Jaccard of two term sets in [0, 1], and the shared terms, rarest first."""
        idf, unseen = self._idf, self._unseen
        union = sum(idf.get(t, unseen) for t in set(a) | set(b))
        shared = self.shared(a, b)
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
    return missing_keys([(term, compact(term)) for term in terms], other_text, alias or {})


def missing_keys(terms: Sequence[tuple[str, str]], other_text: str, alias: dict[str, str]) -> list[str]:
    """`missing_terms` of (term, compacted term) pairs."""
    missing = []
    for term, key in terms:
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
    return sentences_and_keys(text)[0]


def sentences_and_keys(text: str) -> tuple[list[str], list[str]]:
    """`sentences` and their compacted forms."""
    parts, keys = [], []
    for part in _SENTENCE_END_RE.split(text):
        part = part.strip(" ,，:：、")
        key = compact(part)
        if len(key) >= MIN_SENTENCE_CHARS:
            parts.append(part)
            keys.append(key)
    return parts, keys


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


def set_matrix(
    rows: np.ndarray, items: np.ndarray | Sequence[object], n_rows: int
) -> tuple[sparse.csr_matrix, pd.Index]:
    """Binary (n_rows, distinct items) matrix, row r marking the items listed with row r (repeats counted once),
    and the distinct items in column order.

    The row-wise product of two rows is the size of the intersection of their item sets (see `row_products`).
    """
    columns, distinct = pd.factorize(items if isinstance(items, np.ndarray) else np.array(items, dtype=object))
    shape = (n_rows, max(len(distinct), 1))
    matrix = sparse.csr_matrix((np.ones(len(columns), dtype=np.float32), (rows, columns)), shape=shape)
    matrix.data[:] = 1.0  # a repeated item was summed
    return matrix, pd.Index(distinct)


def list_matrix(lists: Sequence[Sequence[object]]) -> tuple[sparse.csr_matrix, pd.Index]:
    """`set_matrix` of one item list per row."""
    lengths = np.fromiter(map(len, lists), dtype=np.int64, count=len(lists))
    items = [x for row in lists for x in row]
    return set_matrix(np.repeat(np.arange(len(lists)), lengths), items, len(lists))


_CODE_BITS = 21  # every Unicode code point fits in 21 bits


def ngram_matrix(texts: Sequence[str], size: int, empty_is_item: bool = False) -> sparse.csr_matrix:
    """`set_matrix` of the character n-grams of each (already compacted) text, computed on code points.

    A text shorter than n counts as one n-gram of itself, except an empty text, which has none (or itself as its
    one item with `empty_is_item`). The sets `shingles` (and, with `empty_is_item`, `bigrams`) build, without a
    Python string per n-gram.
    """
    lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
    points = np.frombuffer("".join(texts).encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    windows = np.maximum(lengths - size + 1, 0)
    starts = np.cumsum(lengths) - lengths
    rows = np.repeat(np.arange(len(texts)), windows)
    position = np.arange(int(windows.sum())) + np.repeat(starts - (np.cumsum(windows) - windows), windows)
    codes, bits = np.zeros(len(position), dtype=np.uint64), 0
    for k in range(size):
        if bits + _CODE_BITS > 63:  # renumber the (k)-grams densely so that one more code point fits
            codes = pd.factorize(codes)[0].astype(np.uint64)
            bits = max(int(codes.max(initial=0)).bit_length(), 1)
        codes = (codes << np.uint64(_CODE_BITS)) | points[position + k]
        bits += _CODE_BITS
    # texts shorter than n are one item each, numbered apart from the n-grams (bit 63 set)
    short = np.flatnonzero((lengths < size) & ((lengths > 0) | empty_is_item))
    short_codes = pd.factorize(np.array([texts[i] for i in short.tolist()], dtype=object))[0].astype(np.uint64)
    items = np.concatenate([codes, short_codes | np.uint64(1 << 63)])
    return set_matrix(np.concatenate([rows, short]), items, len(texts))[0]


_EMPTY_TOKEN = np.uint64(0x5A17E5A17E5A17E5)  # an empty text's one token
_POLY = np.uint64(0x100000001B3)


def shingle_hashes(texts: Sequence[str], size: int) -> tuple[np.ndarray, np.ndarray]:
    """(flat token hashes uint64, row offsets uint64 of length n + 1): the character n-grams of each (compacted)
    text as 64-bit hashes, what MinHash reads. A hash depends on the n-gram alone (a polynomial of its code points,
    then the splitmix64 finaliser), never on the batch, so digests stored in the library stay comparable; a text
    shorter than n is one token (a hash of the whole text), an empty text the fixed `_EMPTY_TOKEN`."""
    lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
    points = np.frombuffer("".join(texts).encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    windows = np.maximum(lengths - size + 1, 0)
    starts = np.cumsum(lengths) - lengths
    position = np.arange(int(windows.sum())) + np.repeat(starts - (np.cumsum(windows) - windows), windows)
    codes = np.zeros(len(position), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for k in range(size):
            codes = codes * _POLY + points[position + k] + np.uint64(1)
        flat = _splitmix(codes)
    per_row = np.maximum(windows, 1)  # a short or empty text still has its one token
    offsets = np.concatenate([[0], np.cumsum(per_row)]).astype(np.uint64)
    if (short := np.flatnonzero(windows == 0)).size:
        full = np.zeros(int(per_row.sum()), dtype=np.uint64)
        inside = np.ones(len(full), dtype=bool)
        inside[offsets[short].astype(np.int64)] = False
        full[inside] = flat
        full[offsets[short].astype(np.int64)] = [_text_hash(texts[i]) for i in short.tolist()]
        flat = full
    return flat, offsets


def _splitmix(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        x = x + np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def _text_hash(text: str) -> np.uint64:
    if not text:
        return _EMPTY_TOKEN
    return np.uint64(int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little"))


def row_products(
    x: sparse.csr_matrix, y: sparse.csr_matrix, a: np.ndarray, b: np.ndarray, block: int = 20_000
) -> np.ndarray:
    """x[a[p]] · y[b[p]] for every p (float64), over blocks of pairs so that memory stays bounded.

    Both matrices need sorted column indices (scipy's element-wise product silently assumes them).
    """
    if not (x.has_sorted_indices and y.has_sorted_indices):
        raise ValueError("row_products needs matrices with sorted column indices")
    out = np.zeros(len(a), dtype=np.float64)
    for start in range(0, len(a), block):
        part = slice(start, start + block)
        out[part] = np.asarray(x[a[part]].multiply(y[b[part]]).sum(axis=1), dtype=np.float64).ravel()
    return out


def pair_jaccard(x: sparse.csr_matrix, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Jaccard of the item sets of rows a[p] and b[p] of a `set_matrix` (0 when both are empty)."""
    sizes = np.diff(x.indptr).astype(np.float64)
    shared = row_products(x, x, a, b)
    union = sizes[a] + sizes[b] - shared
    return np.divide(shared, union, out=np.zeros(len(a)), where=union > 0)
