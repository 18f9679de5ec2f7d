"""Duplicate groups from pair decisions: connected components of the merged pairs, never across a kept-apart pair,
each member described against the group representative."""

import numpy as np
import pandas as pd

from . import schema as s
from .settings import DedupConfig
from .similarity import compact, ngram_matrix, pair_jaccard


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
    multiple = [sorted(members) for members in groups.values() if len(members) > 1]
    reps = [min(group, key=lambda d: (-len(core[position[d]]), d)) for group in multiple]
    # every member's shingle Jaccard with its representative, for all groups at once
    rows = np.array([position[d] for group in multiple for d in group], dtype=np.int64)
    rep_rows = np.array([position[r] for group, r in zip(multiple, reps, strict=True) for _ in group], dtype=np.int64)
    keys = {i: compact(core[i]) for i in rows.tolist()}
    local = np.zeros(len(ids), dtype=np.int64)
    local[list(keys)] = np.arange(len(keys))
    shingle_sets = ngram_matrix([compact(key) for key in keys.values()], config.shingle_size)
    scores = iter(pair_jaccard(shingle_sets, local[rows], local[rep_rows]).tolist())
    out: dict[str, dict[str, object]] = {c: {} for c in _OUTPUT_COLUMNS}
    for group, rep in zip(multiple, reps, strict=True):
        _describe_group(group, rep, {d: next(scores) for d in group}, keys, position, vectors, config, out)
    mapped = {c: demands[s.DEMAND_ID].map(v) for c, v in out.items()}
    # a demand in no group: empty texts and a NaN score
    return demands.assign(**{c: v if c == s.DUPLICATE_SCORE else v.fillna("") for c, v in mapped.items()})


_OUTPUT_COLUMNS = (s.DUPLICATE_GROUP, s.DUPLICATE_KIND, s.DUPLICATE_SCORE, s.DUPLICATE_OF, s.DUPLICATE_REASON)


def _describe_group(
    group: list[str], rep: str, jaccards: dict[str, float], keys: dict[int, str], position: dict[str, int],
    vectors: np.ndarray | None, config: DedupConfig, out: dict[str, dict[str, object]],
) -> None:  # fmt: skip
    """Each member's kind, score and reason against the representative `rep` (`jaccards`: shingle Jaccard with it)."""
    rep_key = keys[position[rep]]
    kinds = {}
    for demand in group:
        jac = jaccards[demand]
        if keys[position[demand]] == rep_key:
            kinds[demand] = ("exact", 1.0, f"与 {rep} 规范化后正文完全相同")
        elif jac >= config.near_threshold:
            kinds[demand] = ("near", jac, f"与 {rep} 的字符{config.shingle_size}-gram Jaccard 相似度 {jac:.2f}")
        else:
            cos = float(vectors[position[demand]] @ vectors[position[rep]]) if vectors is not None else jac
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
