"""Chinese word segmentation with a private tokenizer, the taxonomy's terms as a user dictionary, and a domain
stopword list.

Two engines with the same dictionary and the same algorithm (`segment.engine`): rjieba (default; jieba-rs, Rust,
about 16x jieba's speed) and jieba (pure Python; the fallback when rjieba is not installed). With HMM off they give
identical tokens; with HMM on their new-word guesses differ slightly. Each Segmenter owns its tokenizer instance, and
user terms are added to that instance only.

jieba keeps some module-wide state even for a private Tokenizer (deleting words touches a shared set), so unwanted
words are filtered with the stopword list rather than removed from the dictionary.
"""

import functools
import logging
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import jieba
import pandas as pd

try:  # optional: the Rust engine; jieba is the fallback
    import rjieba
except ImportError:  # pragma: no cover - exercised only where rjieba is missing
    rjieba = None  # type: ignore[assignment]

from . import schema as s
from .settings import SegmentConfig

_KEEP_RE = re.compile(r"[\u4e00-\u9fffA-Za-z]")  # a token must contain a CJK character or a letter
_USER_TERM_FREQ = 50_000  # high enough that a taxonomy term wins over its parts in jieba's DAG
# jieba's HMM pass splits Latin/number runs at this pattern (finalseg's re_skip); rjieba's HMM keeps 0.02mm or
# ar-hud whole. Splitting rjieba's mixed tokens the same way gives jieba's tokens on this project's texts.
_JIEBA_SKIP_RE = re.compile(r"([a-zA-Z0-9]+(?:\.\d+)?%?)")
_MIXED_RE = re.compile(r"[^\u4e00-\u9fffa-zA-Z0-9]")


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


def _jieba_split(piece: str) -> list[str]:
    """A non-CJK piece with punctuation inside (0.02mm, ar-hud) split as jieba's HMM pass splits it."""
    if len(piece) < 3 or not _MIXED_RE.search(piece) or "\u4e00" <= piece[0] <= "\u9fff":
        return [piece]
    return [part for part in _JIEBA_SKIP_RE.split(piece) if part]


def engine_available(engine: str) -> bool:
    return engine == "jieba" or (engine == "rjieba" and rjieba is not None)


class Segmenter:
    """Owns its tokenizer. `fit()` loads the dictionary; `tokenize()` returns filtered lowercase terms."""

    def __init__(self, config: SegmentConfig, extra_terms: Sequence[str] = ()) -> None:
        self.config = config
        self.extra_terms = tuple(extra_terms)

    def fit(self, texts: Iterable[str] | None = None) -> "Segmenter":
        terms = [*read_word_list(self.config.user_dict), *self.extra_terms]
        # the dictionary cannot hold spaces; multi-word terms are matched on their parts
        words = tuple(term for term in sorted(set(terms)) if " " not in term)
        stopwords = frozenset(w.lower() for w in read_word_list(self.config.stopwords))
        return self._build(words, stopwords, frozenset(t.lower() for t in terms))

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled (sent to a Dask worker) as its fitted word lists, not its tokenizer (which cannot be pickled):
        the worker builds the same tokenizer once per process, without reading the dictionary files."""
        if not hasattr(self, "words_"):
            return (Segmenter, (self.config, self.extra_terms))
        return (_fitted, (self.config, self.extra_terms, self.words_, self.stopwords_, self.user_terms_))

    def _build(self, words: tuple[str, ...], stopwords: frozenset[str], user_terms: frozenset[str]) -> "Segmenter":
        """The tokenizer with `words` added (each at a frequency that wins over its parts), and the filters."""
        self.words_ = words
        self.engine_ = self.config.engine if engine_available(self.config.engine) else "jieba"
        if self.engine_ != self.config.engine:
            logging.getLogger(__name__).warning("rjieba is not installed: segmenting with jieba")
        if self.engine_ == "rjieba":
            rtok = rjieba.Jieba()  # a private instance with the default dictionary
            for word in words:
                rtok.add_word(word, _USER_TERM_FREQ, None)
            self.tokenizer_: Any = rtok
        else:
            logging.getLogger("jieba").setLevel(logging.WARNING)
            tokenizer = jieba.Tokenizer()
            tokenizer.initialize()
            for word in words:
                tokenizer.add_word(word, freq=_USER_TERM_FREQ)
            self.tokenizer_ = tokenizer
        self.stopwords_ = stopwords
        self.user_terms_ = user_terms
        self._kept: dict[str, tuple[str, ...]] = {}
        return self

    def tokenize(self, text: str) -> list[str]:
        if self.engine_ == "rjieba":
            pieces = self.tokenizer_.cut(text, self.config.use_hmm)
        else:
            pieces = self.tokenizer_.cut(text, HMM=self.config.use_hmm)
        out: list[str] = []
        memo = self._kept
        for raw in pieces:
            kept = memo.get(raw)
            if kept is None:
                kept = memo[raw] = self._keep(raw)
            if kept:
                out.extend(kept)
        return out

    def _keep(self, raw: str) -> tuple[str, ...]:
        """The terms a piece of the cut contributes (memoised per distinct piece: pieces repeat a lot)."""
        parts = _jieba_split(raw) if self.engine_ == "rjieba" and self.config.use_hmm else [raw]
        out = []
        for part in parts:
            token = part.strip().lower()
            if not token or token in self.stopwords_ or not _KEEP_RE.search(token):
                continue
            if len(token) < self.config.min_token_chars and token not in self.user_terms_:
                continue
            out.append(token)
        return tuple(out)


@functools.lru_cache(maxsize=4)
def _fitted(
    config: SegmentConfig,
    extra_terms: tuple[str, ...],
    words: tuple[str, ...],
    stopwords: frozenset[str],
    user_terms: frozenset[str],
) -> Segmenter:
    """A Segmenter fitted with these word lists, built once per process (a worker gets one per partition)."""
    return Segmenter(config, extra_terms)._build(words, stopwords, user_terms)


def segment_demands(demands: pd.DataFrame, segmenter: Segmenter) -> pd.DataFrame:
    """Add TOKENS and TITLE_TOKENS (space-joined terms of CORE_TEXT and NORM_TITLE)."""
    s.require_columns(demands, [s.CORE_TEXT, s.NORM_TITLE], "segment_demands")
    tokens = [" ".join(segmenter.tokenize(text)) for text in demands[s.CORE_TEXT]]
    titles = [" ".join(segmenter.tokenize(text)) for text in demands[s.NORM_TITLE]]
    return demands.assign(**{s.TOKENS: tokens, s.TITLE_TOKENS: titles})
