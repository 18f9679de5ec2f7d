"""Duplicate groups from pair decisions: connected components of the merged pairs, never across a kept-apart pair,
each member described against the group representative."""

import numpy as np
import pandas as pd

from . import schema as s
from .settings import DedupConfig
from .similarity import compact, jaccard, shingles


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
