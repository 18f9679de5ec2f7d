"""Chinese word segmentation with a private jieba Tokenizer, the taxonomy's terms as a user dictionary, and a
domain stopword list.

jieba keeps some module-wide state even for a private Tokenizer (deleting words touches a shared set), so unwanted
words are filtered with the stopword list rather than removed from the dictionary.
"""

import logging
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

import jieba
import pandas as pd

from . import schema as s
from .settings import SegmentConfig

_KEEP_RE = re.compile(r"[\u4e00-\u9fffA-Za-z]")  # a token must contain a CJK character or a letter
_USER_TERM_FREQ = 50_000  # high enough that a taxonomy term wins over its parts in jieba's DAG


def read_word_list(path: Path) -> list[str]:
    """One word per line; blank lines and lines starting with '#' are ignored. A missing file is an empty list."""
    if not path.exists():
        return []
    words = []
    for line in path.read_text(encoding="utf-8").splitlines():
        word = line.split("#", 1)[0].strip()
        if word:
            words.append(word)
    return words


class Segmenter:
    """Owns its jieba Tokenizer. `fit()` loads the dictionary; `tokenize()` returns filtered lowercase terms."""

    def __init__(self, config: SegmentConfig, extra_terms: Sequence[str] = ()) -> None:
        self.config = config
        self.extra_terms = tuple(extra_terms)

    def fit(self, texts: Iterable[str] | None = None) -> "Segmenter":
        logging.getLogger("jieba").setLevel(logging.WARNING)
        tokenizer = jieba.Tokenizer()
        tokenizer.initialize()
        terms = [*read_word_list(self.config.user_dict), *self.extra_terms]
        for term in sorted(set(terms)):
            # jieba's dictionary cannot hold spaces; multi-word terms are matched on their parts
            if " " not in term:
                tokenizer.add_word(term, freq=_USER_TERM_FREQ)
        self.tokenizer_ = tokenizer
        self.stopwords_ = frozenset(w.lower() for w in read_word_list(self.config.stopwords))
        self.user_terms_ = frozenset(t.lower() for t in terms)
        return self

    def tokenize(self, text: str) -> list[str]:
        out = []
        for raw in self.tokenizer_.cut(text, HMM=self.config.use_hmm):
            token = raw.strip().lower()
            if not token or token in self.stopwords_ or not _KEEP_RE.search(token):
                continue
            if len(token) < self.config.min_token_chars and token not in self.user_terms_:
                continue
            out.append(token)
        return out


def segment_demands(demands: pd.DataFrame, segmenter: Segmenter) -> pd.DataFrame:
    """Add TOKENS and TITLE_TOKENS (space-joined terms of CORE_TEXT and NORM_TITLE)."""
    s.require_columns(demands, [s.CORE_TEXT, s.NORM_TITLE], "segment_demands")
    tokens = [" ".join(segmenter.tokenize(text)) for text in demands[s.CORE_TEXT]]
    titles = [" ".join(segmenter.tokenize(text)) for text in demands[s.NORM_TITLE]]
    return demands.assign(**{s.TOKENS: tokens, s.TITLE_TOKENS: titles})
