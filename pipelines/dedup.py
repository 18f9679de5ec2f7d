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
from .settings import DedupConfig
from .similarity import TermStats, aliases, compact, jaccard, missing_terms, nearest_neighbours, shingles

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
    _shingles: dict[int, set[str]] = field(default_factory=dict)

    def shingles(self, i: int) -> set[str]:
        if i not in self._shingles:
            self._shingles[i] = shingles(self.keys[i], self.size)
        return self._shingles[i]


def _texts(demands: pd.DataFrame, config: DedupConfig) -> _Texts:
    tokens = [str(t).split() for t in demands[s.TOKENS].fillna("")]
    titles = [str(t).split() for t in demands[s.TITLE_TOKENS].fillna("")]
    stats = TermStats(tokens)
    keys = [compact(t) for t in demands[s.CORE_TEXT]]
    key_terms = [
        stats.key_terms(tt, title, config.key_term_share)
        for tt, title in zip(titles, demands[s.NORM_TITLE].fillna(""), strict=True)
    ]
    raw = demands[s.CORE_TEXT].astype(str).tolist()
    numbers = [set(_NUMBER_RE.findall(text)) for text in raw]
    ids = demands[s.DEMAND_ID].astype(str).tolist()
    return _Texts(ids, raw, titles, numbers, keys, tokens, key_terms, stats, config.shingle_size)


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


def detect_pairs(demands: pd.DataFrame, config: DedupConfig, vectors: np.ndarray | None = None) -> pd.DataFrame:
    """Every duplicate decision on a candidate pair: PAIR_COLUMNS, decision "merged" or "kept_apart".

    Input columns: DEMAND_ID, CORE_TEXT, NORM_TITLE, TOKENS, TITLE_TOKENS; `vectors` row-aligned and L2-normalised
    (without them only the copy layer runs). Scores lie in [0, 1] (cosine may be NaN when not computed).
    """
    s.require_columns(demands, [s.DEMAND_ID, s.CORE_TEXT, s.NORM_TITLE, s.TOKENS, s.TITLE_TOKENS], "detect_pairs")
    t = _texts(demands, config)
    semantic = _semantic_candidates(vectors, config) if vectors is not None and len(vectors) > 1 else {}
    candidates = _lexical_candidates(t, config) | set(semantic)
    first: dict[str, int] = {}
    for i, key in enumerate(t.keys):  # identical texts are pairs without any search
        if key and first.setdefault(key, i) != i:
            candidates.add((first[key], i))
    rows = [_judge(t, i, j, semantic.get((i, j)), vectors, config) for i, j in sorted(candidates)]
    return pd.DataFrame([r for r in rows if r is not None], columns=PAIR_COLUMNS)


def _judge(
    t: _Texts, i: int, j: int, cosine: float | None, vectors: np.ndarray | None, config: DedupConfig
) -> dict[str, object] | None:
    """Apply the rules to one candidate pair; None when it is not even a candidate worth recording."""
    if cosine is None and vectors is not None:
        cosine = float(vectors[i] @ vectors[j])
    a, b = (i, j) if t.ids[i] < t.ids[j] else (j, i)
    if t.keys[a] == t.keys[b] and t.keys[a]:
        return _pair(t, a, b, "exact", "merged", 1.0, cosine, 0.0, [], [], "规范化后正文完全相同")
    score = jaccard(t.shingles(a), t.shingles(b))
    overlap, shared = t.stats.overlap(t.tokens[a], t.tokens[b])
    if score >= config.near_threshold:
        rule, evidence = "near", ""
    elif cosine is not None and cosine >= config.reworded_cosine:
        probability, evidence = _reworded_probability(t, a, b, cosine, overlap, config)
        if probability < config.reworded_probability:
            return None
        rule = "reworded"
    else:
        return None
    alias = {**aliases(t.raw[a]), **aliases(t.raw[b])}
    conflict = missing_terms(t.key_terms[a], t.keys[b], alias), missing_terms(t.key_terms[b], t.keys[a], alias)
    if conflict[0] and conflict[1]:
        why = f"对象不同：「{'、'.join(conflict[0][:3])}」与「{'、'.join(conflict[1][:3])}」，不视为重复"
        return _pair(t, a, b, rule, "kept_apart", score, cosine, overlap, shared, conflict[0] + conflict[1], why)
    if rule == "near":
        why = f"字符{config.shingle_size}-gram Jaccard {score:.2f} ≥ {config.near_threshold:.2f}（LSH 候选，经校验）"
    else:
        why = f"视为同一需求的改写：{evidence}"
    return _pair(t, a, b, rule, "merged", score, cosine, overlap, shared, [], why)


def _reworded_probability(
    t: _Texts, a: int, b: int, cosine: float, overlap: float, config: DedupConfig
) -> tuple[float, str]:
    """Logistic combination of whole-text, term, title-term and number agreement, with its evidence text."""
    title_overlap, _ = t.stats.overlap(t.titles[a], t.titles[b])
    union = t.numbers[a] | t.numbers[b]
    numbers = len(t.numbers[a] & t.numbers[b]) / len(union) if union else 0.0
    w = config.reworded_weights
    z = w[0] * cosine + w[1] * overlap + w[2] * title_overlap + w[3] * numbers + w[4]
    probability = 1.0 / (1.0 + math.exp(-z))
    evidence = (f"语义相似度 {cosine:.2f}，关键词重合 {overlap:.2f}，标题词重合 {title_overlap:.2f}，"
                f"数值一致 {numbers:.2f} → 概率 {probability:.2f} ≥ {config.reworded_probability:.2f}")  # fmt: skip
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
    def __init__(self, items: list[str]) -> None:
        self.parent = {item: item for item in items}

    def find(self, item: str) -> str:
        while self.parent[item] != item:
            self.parent[item] = self.parent[self.parent[item]]
            item = self.parent[item]
        return item

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def find_duplicates(demands: pd.DataFrame, config: DedupConfig, vectors: np.ndarray | None = None) -> pd.DataFrame:
    """detect_pairs then group_duplicates: the demands frame with the duplicate columns added."""
    return group_duplicates(demands, detect_pairs(demands, config, vectors), config, vectors)


def group_duplicates(
    demands: pd.DataFrame, pairs: pd.DataFrame, config: DedupConfig, vectors: np.ndarray | None = None
) -> pd.DataFrame:
    """Add DUPLICATE_GROUP, DUPLICATE_KIND (exact / near / reworded), DUPLICATE_SCORE, DUPLICATE_OF, DUPLICATE_REASON.

    Groups are the connected components of the merged pairs. A member's kind and score describe it against the
    group representative (the most complete text): 1.0 for an exact copy, shingle Jaccard for a near-copy, sentence
    cosine for a re-post. Demands in no group get "" / NaN.
    """
    ids = demands[s.DEMAND_ID].astype(str).tolist()
    uf = _UnionFind(ids)
    for a, b in pairs.loc[pairs["decision"] == "merged", ["demand_a", "demand_b"]].itertuples(index=False):
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
