"""Duplicate groups in two layers, every pair decision explained.

1. Copies: exact copies after normalisation, and near-copies found by MinHash/LSH (rensa) over character shingles
   of the boilerplate-stripped text and verified by their true Jaccard similarity.
2. Re-posts: the same need reworded by another enterprise, found among each demand's nearest sentence vectors and
   verified by agreement on segmented terms.
Both layers are vetoed when the two demands name different objects (a rare title term or model number of each is
missing from the other: "磷酸铁锂电解液" vs "三元811电解液"), so a shared template never makes two needs one.

Every duplicate stays its own accepted row; it only gains a shared DUPLICATE_GROUP whose id derives from its
smallest member id, so it does not depend on row order.
"""

import math
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from rensa import RMinHash, RMinHashLSH

from . import schema as s
from .embed import Encoder
from .normalize import strip_boilerplate
from .settings import DedupConfig
from .similarity import (
    TermStats,
    aliases,
    alignment,
    bigrams,
    compact,
    jaccard,
    lexical_alignment,
    missing_terms,
    nearest_neighbours,
    sentences,
    shingles,
)

_NUMBER_RE = re.compile(r"\d+(?:\.\d+)?")
PAIR_COLUMNS = ["demand_a", "demand_b", "rule", "decision", "jaccard", "cosine", "term_overlap", "shared_terms",
                "conflicting_terms", "reason"]  # fmt: skip


@dataclass
class _Texts:
    """Per-demand views the rules read, keyed by position in the frame."""

    ids: list[str]
    raw: list[str]  # core text as normalised
    titles: list[list[str]]
    numbers: list[set[str]]
    keys: list[str]  # compact core text
    tokens: list[list[str]]
    key_terms: list[list[str]]
    stats: TermStats
    size: int
    sentences: list[list[str]]  # title and need sentences, what sentence alignment compares
    _shingles: dict[int, set[str]] = field(default_factory=dict)
    _bigrams: dict[int, list[frozenset[str]]] = field(default_factory=dict)

    def shingles(self, i: int) -> set[str]:
        if i not in self._shingles:
            self._shingles[i] = shingles(self.keys[i], self.size)
        return self._shingles[i]

    def sentence_bigrams(self, i: int) -> list[frozenset[str]]:
        if i not in self._bigrams:
            self._bigrams[i] = [bigrams(x) for x in self.sentences[i]]
        return self._bigrams[i]


def _texts(demands: pd.DataFrame, config: DedupConfig) -> _Texts:
    tokens = [str(t).split() for t in demands[s.TOKENS].fillna("")]
    titles = [str(t).split() for t in demands[s.TITLE_TOKENS].fillna("")]
    stats = TermStats(tokens)
    raw = need_texts(demands)
    keys = [compact(t) for t in raw]
    key_terms = [
        stats.key_terms(tt, title, config.key_term_share)
        for tt, title in zip(titles, demands[s.NORM_TITLE].fillna(""), strict=True)
    ]
    numbers = [set(_NUMBER_RE.findall(text)) for text in raw]
    ids = demands[s.DEMAND_ID].astype(str).tolist()
    sents = [sentences(text) or [text] for text in raw]
    return _Texts(ids, raw, titles, numbers, keys, tokens, key_terms, stats, config.shingle_size, sents)


_LATER_SECTION = "|".join(("需求内容", "需求描述", "技术需求", "技术难点", "预期目标", "预期指标", "主要技术指标",
                           "技术指标", "合作方式", "需求背景", "需求概述"))  # fmt: skip
_BASIS_SECTION_RE = re.compile(
    rf"(?:现有工作基础|现有基础|工作基础)\s*[:：].*?(?=\n\s*(?:{_LATER_SECTION})\s*[:：]|\Z)", re.DOTALL
)


def need_texts(demands: pd.DataFrame) -> list[str]:
    """What a demand asks for: title + body without the 现有工作基础 section, labels and self-descriptions.

    Read from NORM_TEXT when present, the 现有工作基础 section ending at the next section label, so a need section
    written after it is kept (CORE_TEXT drops everything after that label); otherwise CORE_TEXT.
    """
    if s.NORM_TEXT not in demands:
        return demands[s.CORE_TEXT].astype(str).tolist()
    out = []
    for title, text, core in zip(demands[s.NORM_TITLE].fillna(""), demands[s.NORM_TEXT].fillna(""),
                                 demands[s.CORE_TEXT].astype(str), strict=True):  # fmt: skip
        body = strip_boilerplate(_BASIS_SECTION_RE.sub("", str(text)))
        out.append(f"{title}\n{body}".strip() if body else core)
    return out


def _lexical_candidates(t: _Texts, config: DedupConfig) -> set[tuple[int, int]]:
    """Pairs (i < j) that MinHash/LSH proposes as copies; the exact Jaccard check comes later."""
    lsh = RMinHashLSH(threshold=config.lsh_threshold, num_perm=config.num_perm, num_bands=config.lsh_bands)
    docs = (sorted(shingles(k, config.shingle_size)) or ["<empty>"] for k in t.keys)
    hashes = RMinHash.from_token_sets(docs, config.num_perm, config.seed)
    for i, mh in enumerate(hashes):
        lsh.insert(i, mh)
    return {(min(i, j), max(i, j)) for i, mh in enumerate(hashes) for j in lsh.query(mh) if i != j}


def _semantic_candidates(vectors: np.ndarray, config: DedupConfig) -> dict[tuple[int, int], float]:
    """Pairs (i < j) among each demand's nearest neighbours whose full-vector cosine is >= reworded_cosine."""
    sims, idx = nearest_neighbours(vectors, config.neighbours, config.seed)
    rows, cols = np.nonzero((idx >= 0) & (sims >= config.reworded_cosine - 0.05))  # projected search: a margin
    a, b = rows, idx[rows, cols]
    cosine = np.einsum("ij,ij->i", vectors[a], vectors[b])
    keep = cosine >= config.reworded_cosine
    return {(int(min(i, j)), int(max(i, j))): float(c) for i, j, c in zip(a[keep], b[keep], cosine[keep], strict=True)}


def detect_pairs(
    demands: pd.DataFrame, config: DedupConfig, vectors: np.ndarray | None = None, encoder: Encoder | None = None
) -> pd.DataFrame:
    """Every duplicate decision on a candidate pair: PAIR_COLUMNS, decision "merged" or "kept_apart".

    Input columns: DEMAND_ID, CORE_TEXT, NORM_TITLE, TOKENS, TITLE_TOKENS (NORM_TEXT when present: the need text is
    read from it); `vectors` row-aligned and L2-normalised (without them only the copy layer runs); `encoder`, the
    one that made `vectors`, lets re-posts be checked sentence by sentence (without it, on whole-text features).
    Scores lie in [0, 1] (cosine may be NaN when not computed).
    """
    s.require_columns(demands, [s.DEMAND_ID, s.CORE_TEXT, s.NORM_TITLE, s.TOKENS, s.TITLE_TOKENS], "detect_pairs")
    t = _texts(demands, config)
    features = _features(t, config, vectors, encoder)
    rows = [_judge(t, f, config) for f in features]
    return pd.DataFrame([r for r in rows if r is not None], columns=PAIR_COLUMNS)


def pair_features(
    demands: pd.DataFrame, config: DedupConfig, vectors: np.ndarray | None = None, encoder: Encoder | None = None
) -> pd.DataFrame:
    """The candidate pairs detect_pairs judges, with every feature it reads (FEATURE_COLUMNS): for fitting."""
    t = _texts(demands, config)
    rows = [{"demand_a": t.ids[f.a], "demand_b": t.ids[f.b]} | {k: getattr(_with_conflict(t, _with_terms(t, f)), k)
            for k in FEATURE_COLUMNS} for f in _features(t, config, vectors, encoder)]  # fmt: skip
    return pd.DataFrame(rows, columns=["demand_a", "demand_b", *FEATURE_COLUMNS])


_LEXICAL_FLOOR = 0.4  # shingle Jaccard under which two texts cannot share most sentences (reordered copies: > 0.7)
FEATURE_COLUMNS = ["cosine", "jaccard", "overlap", "title_overlap", "numbers", "lexical", "sentence", "conflict"]


@dataclass
class _Pair:
    """One candidate pair (a: the smaller demand id) and what the rules read about it."""

    a: int
    b: int
    cosine: float | None
    jaccard: float = 0.0
    overlap: float = 0.0
    shared: list[str] = field(default_factory=list)
    title_overlap: float = 0.0
    numbers: float = 0.0
    lexical: float = 0.0  # sentence alignment by character bigrams (same sentences in any order: 1)
    sentence: float | None = None  # sentence alignment by sentence vectors, when an encoder is given
    conflict: bool = False  # each names a key term the other lacks: different objects
    conflicting: tuple[list[str], list[str]] = ([], [])


def _features(t: _Texts, config: DedupConfig, vectors: np.ndarray | None, encoder: Encoder | None) -> list[_Pair]:
    """Candidate pairs (exact keys, LSH, nearest vectors) with their cheap features; sentence alignment for the
    re-post candidates that could still pass with it (so encoding stays limited to real candidates)."""
    semantic = _semantic_candidates(vectors, config) if vectors is not None and len(vectors) > 1 else {}
    candidates = _lexical_candidates(t, config) | set(semantic)
    first: dict[str, int] = {}
    for i, key in enumerate(t.keys):  # identical texts are pairs without any search
        if key and first.setdefault(key, i) != i:
            candidates.add((first[key], i))
    pairs = []
    for i, j in sorted(candidates):
        a, b = (i, j) if t.ids[i] < t.ids[j] else (j, i)
        cosine = semantic.get((i, j))
        if cosine is None and vectors is not None:
            cosine = float(vectors[a] @ vectors[b])
        pairs.append(_cheap_features(t, a, b, cosine, config, encoder is not None))
    if encoder is not None:
        todo = [f for f in pairs if _is_reworded_candidate(f, config) and _upper_bound(f, config) >= _logit(config)]
        for f, value in zip(todo, _sentence_alignments(t, [(f.a, f.b) for f in todo], encoder), strict=True):
            f.sentence = value
    return pairs


def _cheap_features(t: _Texts, a: int, b: int, cosine: float | None, config: DedupConfig, sentences: bool) -> _Pair:
    """Shingle Jaccard always; the rest only when the pair can still be a copy or a re-post (`sentences`: the
    sentence alignment will be read, so the bigram alignment it is weighed against is needed too)."""
    f = _Pair(a, b, cosine, jaccard=jaccard(t.shingles(a), t.shingles(b)))
    reworded = cosine is not None and cosine >= config.reworded_cosine
    if f.jaccard < _LEXICAL_FLOOR and not reworded:
        return f  # neither a copy, nor the same sentences reordered, nor a re-post candidate: nothing to read
    if f.jaccard >= _LEXICAL_FLOOR or sentences:
        f.lexical = lexical_alignment(t.sentence_bigrams(a), t.sentence_bigrams(b))
    if f.jaccard >= config.near_threshold or f.lexical >= config.same_sentences or not reworded:
        return f  # a copy (its terms are read when it is recorded) or no candidate at all
    return _with_terms(t, f)


def _with_terms(t: _Texts, f: _Pair) -> _Pair:
    """Term, title-term and number agreement."""
    a, b = f.a, f.b
    f.overlap, f.shared = t.stats.overlap(t.tokens[a], t.tokens[b])
    f.title_overlap = t.stats.overlap(t.titles[a], t.titles[b])[0]
    union = t.numbers[a] | t.numbers[b]
    f.numbers = len(t.numbers[a] & t.numbers[b]) / len(union) if union else 0.0
    return f


def _with_conflict(t: _Texts, f: _Pair) -> _Pair:
    """The key-term veto: each names a key term (rare title term, model number) the other's text lacks."""
    alias = {**aliases(t.raw[f.a]), **aliases(t.raw[f.b])}
    c = missing_terms(t.key_terms[f.a], t.keys[f.b], alias), missing_terms(t.key_terms[f.b], t.keys[f.a], alias)
    f.conflict = bool(c[0] and c[1])
    f.conflicting = c if f.conflict else ([], [])
    return f


def _is_reworded_candidate(f: _Pair, config: DedupConfig) -> bool:
    return (
        f.jaccard < config.near_threshold
        and f.lexical < config.same_sentences
        and f.cosine is not None
        and f.cosine >= config.reworded_cosine
    )


def _logit(config: DedupConfig) -> float:
    p = config.reworded_probability
    return math.log(p / (1 - p)) if 0 < p < 1 else (-math.inf if p <= 0 else math.inf)


def _upper_bound(f: _Pair, config: DedupConfig) -> float:
    """The largest logit a pair can reach whatever its sentence alignment turns out to be."""
    w = config.sentence_weights
    return _linear(f, w, 0.0) + max(w[4], 0.0)


def _linear(f: _Pair, w: tuple[float, ...], sentence: float) -> float:
    assert f.cosine is not None
    z = w[0] * f.cosine + w[1] * f.overlap + w[2] * f.title_overlap + w[3] * f.numbers
    return z + (w[4] * sentence + w[5] * f.lexical + w[6] if len(w) == 7 else w[4])


def _sentence_alignments(t: _Texts, pairs: list[tuple[int, int]], encoder: Encoder) -> list[float]:
    """Sentence-vector alignment of each pair, encoding every distinct sentence of the demands involved once."""
    demands = sorted({i for pair in pairs for i in pair})
    texts = sorted({x for i in demands for x in t.sentences[i]})
    if not texts:
        return [0.0] * len(pairs)
    vectors = encoder.encode(texts)
    row = {x: k for k, x in enumerate(texts)}
    own = {i: vectors[[row[x] for x in t.sentences[i]]] for i in demands}
    return [alignment(own[a] @ own[b].T) for a, b in pairs]


def _judge(t: _Texts, f: _Pair, config: DedupConfig) -> dict[str, object] | None:
    """Apply the rules to one candidate pair; None when it is not even a candidate worth recording."""
    a, b = f.a, f.b
    if t.keys[a] == t.keys[b] and t.keys[a]:
        return _pair(t, a, b, "exact", "merged", 1.0, f.cosine, 0.0, [], [], "规范化后正文完全相同")
    if f.jaccard >= config.near_threshold or f.lexical >= config.same_sentences:
        rule, evidence = "near", ""
        _with_terms(t, f)
    elif _is_reworded_candidate(f, config):
        probability, evidence = _reworded_probability(f, config)
        if probability < config.reworded_probability:
            return None
        rule = "reworded"
    else:
        return None
    if _with_conflict(t, f).conflict:
        c = f.conflicting
        why = f"对象不同：「{'、'.join(c[0][:3])}」与「{'、'.join(c[1][:3])}」，不视为重复"
        return _pair(t, a, b, rule, "kept_apart", f.jaccard, f.cosine, f.overlap, f.shared, c[0] + c[1], why)
    if rule == "near" and f.jaccard < config.near_threshold:
        why = f"句子相同、顺序不同：逐句字面对齐 {f.lexical:.2f} ≥ {config.same_sentences:.2f}"
    elif rule == "near":
        why = (
            f"字符{config.shingle_size}-gram Jaccard {f.jaccard:.2f} ≥ {config.near_threshold:.2f}（LSH 候选，经校验）"
        )
    else:
        why = f"视为同一需求的改写：{evidence}"
    return _pair(t, a, b, rule, "merged", f.jaccard, f.cosine, f.overlap, f.shared, [], why)


def _reworded_probability(f: _Pair, config: DedupConfig) -> tuple[float, str]:
    """Logistic combination of whole-text, term, title-term, number and (with an encoder) sentence agreement."""
    if f.sentence is None:
        z, sentence = _linear(f, config.reworded_weights, 0.0), ""
    else:
        z = _linear(f, config.sentence_weights, f.sentence)
        sentence = f"，句子语义对齐 {f.sentence:.2f}，句子字面对齐 {f.lexical:.2f}"
    probability = 1.0 / (1.0 + math.exp(-z))
    evidence = (f"语义相似度 {f.cosine:.2f}，关键词重合 {f.overlap:.2f}，标题词重合 {f.title_overlap:.2f}，"
                f"数值一致 {f.numbers:.2f}{sentence} → 概率 {probability:.2f} ≥ "
                f"{config.reworded_probability:.2f}")  # fmt: skip
    return probability, evidence


def _pair(
    t: _Texts, a: int, b: int, rule: str, decision: str, score: float, cosine: float | None, overlap: float,
    shared: list[str], conflicting: list[str], reason: str,
) -> dict[str, object]:  # fmt: skip
    return {
        "demand_a": t.ids[a], "demand_b": t.ids[b], "rule": rule, "decision": decision,
        "jaccard": round(score, 4), "cosine": round(cosine, 4) if cosine is not None else float("nan"),
        "term_overlap": round(overlap, 4), "shared_terms": "、".join(shared[:6]),
        "conflicting_terms": "、".join(conflicting[:6]), "reason": reason,
    }  # fmt: skip


class _UnionFind:
    """Connected components of merged pairs, never joining two components a kept-apart pair separates."""

    def __init__(self, items: list[str], apart: list[tuple[str, str]]) -> None:
        self.parent = {item: item for item in items}
        self.members = {item: {item} for item in items}
        self.apart: dict[str, set[str]] = {}
        for a, b in apart:
            self.apart.setdefault(a, set()).add(b)
            self.apart.setdefault(b, set()).add(a)

    def find(self, item: str) -> str:
        while self.parent[item] != item:
            self.parent[item] = self.parent[self.parent[item]]
            item = self.parent[item]
        return item

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return
        small, large = sorted((self.members[ra], self.members[rb]), key=len)
        if any(self.apart.get(m, set()) & large for m in small):
            return  # a member of one names a different object than a member of the other
        keep, drop = min(ra, rb), max(ra, rb)
        self.parent[drop] = keep
        self.members[keep] |= self.members.pop(drop)


_RULE_ORDER = {"exact": 0, "near": 1, "reworded": 2}


def find_duplicates(
    demands: pd.DataFrame, config: DedupConfig, vectors: np.ndarray | None = None, encoder: Encoder | None = None
) -> pd.DataFrame:
    """detect_pairs then group_duplicates: the demands frame with the duplicate columns added."""
    return group_duplicates(demands, detect_pairs(demands, config, vectors, encoder), config, vectors)


def group_duplicates(
    demands: pd.DataFrame, pairs: pd.DataFrame, config: DedupConfig, vectors: np.ndarray | None = None
) -> pd.DataFrame:
    """Add DUPLICATE_GROUP, DUPLICATE_KIND (exact / near / reworded), DUPLICATE_SCORE, DUPLICATE_OF, DUPLICATE_REASON.

    Groups are the connected components of the merged pairs, strongest first (exact, near by Jaccard, re-posts by
    cosine), except that two components are never joined when a kept-apart pair (different objects) lies between
    them, so a chain of re-posts cannot carry a look-alike into a group. A member's kind and score describe it
    against the group representative (the most complete text): 1.0 for an exact copy, shingle Jaccard for a
    near-copy, sentence cosine for a re-post. Demands in no group get "" / NaN.
    """
    ids = demands[s.DEMAND_ID].astype(str).tolist()
    known = pairs["demand_a"].isin(ids) & pairs["demand_b"].isin(ids)
    apart = pairs.loc[known & (pairs["decision"] == "kept_apart"), ["demand_a", "demand_b"]]
    uf = _UnionFind(ids, list(apart.itertuples(index=False, name=None)))
    merged = pairs.loc[known & (pairs["decision"] == "merged")]
    order = merged.assign(
        _rank=merged["rule"].map(_RULE_ORDER), _cos=-merged["cosine"].fillna(1.0), _jac=-merged["jaccard"]
    )
    for a, b in order.sort_values(["_rank", "_jac", "_cos", "demand_a", "demand_b"])[
        ["demand_a", "demand_b"]
    ].itertuples(index=False):
        uf.union(a, b)
    groups: dict[str, list[str]] = {}
    for demand in ids:
        groups.setdefault(uf.find(demand), []).append(demand)
    position = {d: i for i, d in enumerate(ids)}
    core = demands[s.CORE_TEXT].astype(str).tolist()
    out: dict[str, dict[str, object]] = {c: {} for c in _OUTPUT_COLUMNS}
    for members in groups.values():
        if len(members) > 1:
            _describe_group(sorted(members), core, position, vectors, config, out)
    mapped = {c: demands[s.DEMAND_ID].map(v) for c, v in out.items()}
    # a demand in no group: empty texts and a NaN score
    return demands.assign(**{c: v if c == s.DUPLICATE_SCORE else v.fillna("") for c, v in mapped.items()})


_OUTPUT_COLUMNS = (s.DUPLICATE_GROUP, s.DUPLICATE_KIND, s.DUPLICATE_SCORE, s.DUPLICATE_OF, s.DUPLICATE_REASON)


def _describe_group(
    group: list[str], core: list[str], position: dict[str, int], vectors: np.ndarray | None, config: DedupConfig,
    out: dict[str, dict[str, object]],
) -> None:  # fmt: skip
    rep = min(group, key=lambda d: (-len(core[position[d]]), d))
    rep_key = compact(core[position[rep]])
    rep_sh = shingles(rep_key, config.shingle_size)
    kinds = {}
    for demand in group:
        key = compact(core[position[demand]])
        score = jaccard(shingles(key, config.shingle_size), rep_sh)
        if key == rep_key:
            kinds[demand] = ("exact", 1.0, f"与 {rep} 规范化后正文完全相同")
        elif score >= config.near_threshold:
            kinds[demand] = ("near", score, f"与 {rep} 的字符{config.shingle_size}-gram Jaccard 相似度 {score:.2f}")
        else:
            cos = float(vectors[position[demand]] @ vectors[position[rep]]) if vectors is not None else score
            kinds[demand] = ("reworded", cos, f"与 {rep} 为同一需求的改写（语义相似度 {cos:.2f}）")
    worst = "exact" if all(k[0] == "exact" for k in kinds.values()) else "near"
    worst = "reworded" if any(k[0] == "reworded" for k in kinds.values()) else worst
    for demand in group:
        kind, score, reason = kinds[demand]
        out[s.DUPLICATE_GROUP][demand] = "G" + group[0][1:]
        out[s.DUPLICATE_SCORE][demand] = round(score, 4)
        out[s.DUPLICATE_OF][demand] = "" if demand == rep else rep
        out[s.DUPLICATE_KIND][demand] = worst if demand == rep else kind
        out[s.DUPLICATE_REASON][demand] = (
            f"重复组代表条目（组内共 {len(group)} 条，取描述最完整者）" if demand == rep else reason
        )
