"""What the duplicate rules read about each candidate pair, computed for all pairs at once.

Set similarities are row-wise products of the sparse set matrices of `DemandTexts` (shared items counted, the union
from the two set sizes); each feature is computed only for the pairs that can still need it, in the order the rules
read them: shingle Jaccard for every pair; sentence bigram alignment when the pair may be a reordered copy or a
re-post weighed with sentence vectors; term, title-term and number agreement for copies and re-post candidates;
sentence-vector alignment (an encoder) for re-post candidates whose verdict it can still change.
"""

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse

from .dedup_candidates import Candidates
from .dedup_texts import DemandTexts
from .embed import Encoder
from .settings import DedupConfig
from .similarity import alignment, ngram_matrix, pair_jaccard, row_products

LEXICAL_FLOOR = 0.4  # shingle Jaccard under which two texts cannot share most sentences (reordered copies: > 0.7)
FEATURE_COLUMNS = ["cosine", "jaccard", "overlap", "title_overlap", "numbers", "lexical", "sentence", "conflict"]
_CHUNK = 20_000  # pairs whose sentence-by-sentence cells are built at once


@dataclass
class PairFeatures:
    """Candidate pairs (a: the demand with the smaller id) and what the rules read about them, an array each."""

    a: np.ndarray
    b: np.ndarray
    cosine: np.ndarray  # NaN: not computed (no vectors)
    jaccard: np.ndarray  # character shingle Jaccard of the keys
    lexical: np.ndarray  # sentence alignment by character bigrams (same sentences in any order: 1); 0: not computed
    overlap: np.ndarray  # IDF-weighted term Jaccard; 0: not computed
    title_overlap: np.ndarray
    numbers: np.ndarray  # Jaccard of the numbers
    sentence: np.ndarray  # sentence alignment by sentence vectors; NaN: not computed

    def near(self, config: DedupConfig) -> np.ndarray:
        """Copies: verified shingle Jaccard, or the same sentences in another order."""
        return (self.jaccard >= config.near_threshold) | (self.lexical >= config.same_sentences)

    def reworded_candidate(self, config: DedupConfig) -> np.ndarray:
        """Not a copy, but close sentence vectors: a re-post to weigh."""
        return ~self.near(config) & (self.cosine >= config.reworded_cosine)

    def logit(self, w: tuple[float, ...], sentence: np.ndarray | float) -> np.ndarray:
        """The re-post model's logit with weights w (5 without sentence alignment, 7 with it)."""
        z = w[0] * self.cosine + w[1] * self.overlap + w[2] * self.title_overlap + w[3] * self.numbers
        return z + (w[4] * sentence + w[5] * self.lexical + w[6] if len(w) == 7 else w[4])

    def reworded_probability(self, config: DedupConfig) -> np.ndarray:
        """Logistic combination of whole-text, term, title-term, number and (where computed) sentence agreement."""
        with np.errstate(over="ignore"):
            plain = 1.0 / (1.0 + np.exp(-self.logit(config.reworded_weights, 0.0)))
            with_sentences = 1.0 / (1.0 + np.exp(-self.logit(config.sentence_weights, np.nan_to_num(self.sentence))))
        return np.where(np.isnan(self.sentence), plain, with_sentences)


def measure_pairs(
    t: DemandTexts, candidates: Candidates, config: DedupConfig, encoder: Encoder | None, complete: bool = False
) -> PairFeatures:
    """The features of every candidate pair that the rules read (`complete`: also the sentence bigram alignment of
    verified near-copies, which their verdict does not need, and term agreement for every pair: for fitting)."""
    rank = pd.factorize(pd.Index(t.ids, dtype=object), sort=True)[0]  # equal ids: equal rank
    first, second = candidates.first, candidates.second
    a = np.where(rank[first] < rank[second], first, second)
    b = np.where(rank[first] < rank[second], second, first)
    n = len(a)
    f = PairFeatures(
        a,
        b,
        candidates.cosine,
        jaccard=pair_jaccard(t.shingle_sets, a, b),
        lexical=np.zeros(n),
        overlap=np.zeros(n),
        title_overlap=np.zeros(n),
        numbers=np.zeros(n),
        sentence=np.full(n, np.nan),
    )
    reworded = f.cosine >= config.reworded_cosine
    # a pair that is neither close in shingles nor in vectors needs nothing more
    read = (f.jaccard >= LEXICAL_FLOOR) | (reworded & (encoder is not None))
    if not complete:
        read &= f.jaccard < config.near_threshold  # a near-copy already: its sentence order changes nothing
    f.lexical[read] = lexical_alignments(t, a[read], b[read])
    terms = np.ones(n, dtype=bool) if complete else f.near(config) | f.reworded_candidate(config)
    f.overlap[terms] = _weighted_jaccard(t.terms, t.idf, a[terms], b[terms])
    f.title_overlap[terms] = _weighted_jaccard(t.title_terms, t.idf, a[terms], b[terms])
    f.numbers[terms] = pair_jaccard(t.numbers, a[terms], b[terms])
    if encoder is not None:
        todo = f.reworded_candidate(config) & (_upper_bound(f, config) >= logit_threshold(config))
        f.sentence[todo] = _sentence_alignments(t, a[todo], b[todo], encoder)
    return f


def logit_threshold(config: DedupConfig) -> float:
    p = config.reworded_probability
    return math.log(p / (1 - p)) if 0 < p < 1 else (-math.inf if p <= 0 else math.inf)


def _upper_bound(f: PairFeatures, config: DedupConfig) -> np.ndarray:
    """The largest logit a pair can reach whatever its sentence alignment turns out to be."""
    w = config.sentence_weights
    return f.logit(w, 0.0) + max(w[4], 0.0)


def _weighted_jaccard(x: sparse.csr_matrix, weight: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Weighted Jaccard of the item sets of rows a[p] and b[p] of a set matrix, item weights `weight`."""
    weighted = x.copy().astype(np.float64)
    weighted.data = weight[x.indices]
    totals = np.asarray(weighted.sum(axis=1), dtype=np.float64).ravel()
    shared = row_products(weighted, x, a, b)
    union = totals[a] + totals[b] - shared
    return np.divide(shared, union, out=np.zeros(len(a)), where=union > 0)


def lexical_alignments(t: DemandTexts, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """`alignment` of the two demands' sentences, sentence similarity = Jaccard of their character bigrams."""
    out = np.zeros(len(a))
    if not len(a):
        return out
    demands = np.unique(np.concatenate([a, b]))
    lists = [t.sentences(i)[1] for i in demands]
    count = np.fromiter(map(len, lists), dtype=np.int64, count=len(lists))
    offset = np.cumsum(count) - count
    local = np.zeros(len(t.ids), dtype=np.int64)
    local[demands] = np.arange(len(demands))
    bigram_sets = ngram_matrix([key for keys in lists for key in keys], 2, empty_is_item=True)
    size = np.diff(bigram_sets.indptr).astype(np.float64)
    for start in range(0, len(a), _CHUNK):
        la, lb = local[a[start : start + _CHUNK]], local[b[start : start + _CHUNK]]
        rows, cols = count[la], count[lb]
        cells = rows * cols
        pair = np.repeat(np.arange(len(la)), cells)
        cell = np.arange(int(cells.sum())) - np.repeat(np.cumsum(cells) - cells, cells)
        i = offset[la][pair] + cell // cols[pair]
        j = offset[lb][pair] + cell % cols[pair]
        shared = row_products(bigram_sets, bigram_sets, i, j)
        similarity = (shared / (size[i] + size[j] - shared)).astype(np.float32)  # every sentence has a bigram
        ends = np.cumsum(cells)
        for p in range(len(la)):
            block = similarity[ends[p] - cells[p] : ends[p]].reshape(rows[p], cols[p])
            out[start + p] = alignment(block)
    return out


def _sentence_alignments(t: DemandTexts, a: np.ndarray, b: np.ndarray, encoder: Encoder) -> np.ndarray:
    """Sentence-vector alignment of each pair, encoding every distinct sentence of the demands involved once."""
    demands = sorted(set(a.tolist()) | set(b.tolist()))
    texts = sorted({x for i in demands for x in t.sentences(i)[0]})
    if not texts:
        return np.zeros(len(a))
    vectors = encoder.encode(texts)
    row = {x: k for k, x in enumerate(texts)}
    own = {i: [row[x] for x in t.sentences(i)[0]] for i in demands}  # row numbers: no second copy of the vectors
    return np.array(
        [alignment(vectors[own[i]] @ vectors[own[j]].T) for i, j in zip(a.tolist(), b.tolist(), strict=True)]
    )
