"""What duplicate detection reads of each demand: its need text and compacted key, segmented terms, title terms,
numbers and sentences, each also as a sparse set matrix (a row per demand), so that a pair feature is a row-wise
product over many candidate pairs at once instead of Python set work per pair.

Sentences, key terms and abbreviations are read per demand only for the demands a pair needs them for.
"""

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import sparse

from . import schema as s
from .need_text import need_texts
from .settings import DedupConfig
from .similarity import TermStats, aliases, compact, list_matrix, missing_keys, ngram_matrix, sentences_and_keys

_NUMBER_RE = re.compile(r"\d+(?:\.\d+)?")


@dataclass
class DemandTexts:
    """Per-demand views the rules read, keyed by position in the frame.

    The matrices share their row order with the lists: `shingle_sets` (character shingles of the key), `terms` and
    `title_terms` (segmented terms of the text and of the title, one column space, columns rarest term first, as
    `vocabulary`) and `numbers`.
    """

    ids: list[str]
    raw: list[str]  # need text as normalised
    keys: list[str]  # compact need text: equal non-empty keys are exact copies
    titles: list[list[str]]
    title_texts: list[str]
    stats: TermStats
    config: DedupConfig
    shingle_sets: sparse.csr_matrix
    terms: sparse.csr_matrix
    title_terms: sparse.csr_matrix
    vocabulary: np.ndarray
    idf: np.ndarray
    numbers: sparse.csr_matrix
    _sentences: dict[int, tuple[list[str], list[str]]] = field(default_factory=dict)
    _key_terms: dict[int, list[tuple[str, str]]] = field(default_factory=dict)
    _aliases: dict[int, dict[str, str]] = field(default_factory=dict)

    def sentences(self, i: int) -> tuple[list[str], list[str]]:
        """Title and need sentences, what sentence alignment compares (the whole text when it has none), and their
        compacted forms."""
        if i not in self._sentences:
            parts, keys = sentences_and_keys(self.raw[i])
            self._sentences[i] = (parts, keys) if parts else ([self.raw[i]], [compact(self.raw[i])])
        return self._sentences[i]

    def missing_key_terms(self, i: int, j: int, alias: dict[str, str]) -> list[str]:
        """Key terms of i (rare title terms, model numbers in the title) that j's text lacks, also by an alias."""
        if i not in self._key_terms:
            terms = self.stats.key_terms(self.titles[i], self.title_texts[i], self.config.key_term_share)
            self._key_terms[i] = [(term, compact(term)) for term in terms]
        return missing_keys(self._key_terms[i], self.keys[j], alias)

    def aliases(self, i: int) -> dict[str, str]:
        if i not in self._aliases:
            self._aliases[i] = aliases(self.raw[i])
        return self._aliases[i]

    def shared_terms(self, a: np.ndarray, b: np.ndarray, most: int) -> list[list[str]]:
        """The first `most` terms each pair shares, rarest first."""
        both = self.terms[a].multiply(self.terms[b]).tocsr()
        both.sort_indices()
        ends = both.indptr
        return [
            self.vocabulary[both.indices[ends[p] : min(ends[p + 1], ends[p] + most)]].tolist() for p in range(len(a))
        ]


def demand_texts(demands: pd.DataFrame, config: DedupConfig) -> DemandTexts:
    tokens = [str(t).split() for t in demands[s.TOKENS].fillna("").tolist()]
    titles = [str(t).split() for t in demands[s.TITLE_TOKENS].fillna("").tolist()]
    n = len(tokens)
    both, distinct = list_matrix(tokens + titles)  # one column space for text and title terms
    df = np.asarray(both[:n].sum(axis=0), dtype=np.int64).ravel()
    stats = TermStats(dict(zip(distinct.tolist(), df.tolist(), strict=True)), n)
    terms = distinct.tolist()
    order = sorted(range(len(terms)), key=lambda k: (-stats.idf(terms[k]), terms[k]))  # rarest first
    both, vocabulary = both[:, order], np.array(terms, dtype=object)[order]
    both.sort_indices()  # row-wise products need sorted column indices
    raw = need_texts(demands)
    keys = [compact(text) for text in raw]
    return DemandTexts(
        ids=demands[s.DEMAND_ID].astype(str).tolist(),
        raw=raw,
        keys=keys,
        titles=titles,
        title_texts=[str(t) for t in demands[s.NORM_TITLE].fillna("").tolist()],
        stats=stats,
        config=config,
        shingle_sets=ngram_matrix([compact(k) for k in keys], config.shingle_size),
        terms=both[:n],
        title_terms=both[n:],
        vocabulary=vocabulary,
        idf=np.array([stats.idf(term) for term in vocabulary], dtype=np.float64),
        numbers=list_matrix([_NUMBER_RE.findall(text) for text in raw])[0],
    )
