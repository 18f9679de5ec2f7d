"""Duplicate groups: exact copies after normalisation, and near-copies found by MinHash/LSH over character
shingles and verified by their true Jaccard similarity.

Every duplicate stays its own accepted row; it only gains a shared DUPLICATE_GROUP. A group's id is derived from
its smallest member id, so it does not depend on row order.
"""

import re
from collections.abc import Iterable

import pandas as pd
from datasketch import MinHash, MinHashLSH

from . import schema as s
from .settings import DedupConfig

_NON_WORD_RE = re.compile(r"[\W_]+", re.UNICODE)


def compact(text: str) -> str:
    """Letters and digits only: the form in which two texts count as exact copies."""
    return _NON_WORD_RE.sub("", text).lower()


def shingles(text: str, size: int) -> set[str]:
    """Character n-grams of the compacted text (the whole text when it is shorter than n)."""
    text = compact(text)
    if len(text) <= size:
        return {text} if text else set()
    return {text[i : i + size] for i in range(len(text) - size + 1)}


def jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 0.0


class _UnionFind:
    def __init__(self, items: Iterable[str]) -> None:
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


def near_pairs(shingle_sets: dict[str, set[str]], config: DedupConfig) -> list[tuple[str, str, float]]:
    """Verified near-duplicate pairs (a < b, jaccard) among the given ids, via MinHashLSH candidates."""
    lsh = MinHashLSH(threshold=config.lsh_threshold, num_perm=config.num_perm)
    ids = sorted(i for i, sh in shingle_sets.items() if sh)
    hashes = MinHash.bulk(
        [[x.encode("utf-8") for x in shingle_sets[i]] for i in ids],
        num_perm=config.num_perm,
        seed=config.seed,
    )
    pairs = []
    for demand, mh in zip(ids, hashes, strict=True):
        for other in lsh.query(mh):
            score = jaccard(shingle_sets[demand], shingle_sets[other])
            if score >= config.near_threshold:
                pairs.append((min(demand, other), max(demand, other), score))
        lsh.insert(demand, mh)
    return sorted(pairs)


def find_duplicates(demands: pd.DataFrame, config: DedupConfig) -> pd.DataFrame:
    """Add DUPLICATE_GROUP, DUPLICATE_KIND, DUPLICATE_SCORE, DUPLICATE_OF, DUPLICATE_REASON.

    Input columns: DEMAND_ID, CORE_TEXT. Scores are Jaccard similarities in [0, 1] of a member's shingles with
    its group representative's (1.0 for exact copies); demands in no group get "" and NaN.
    """
    s.require_columns(demands, [s.DEMAND_ID, s.CORE_TEXT], "find_duplicates")
    ids = demands[s.DEMAND_ID].tolist()
    keys = dict(zip(ids, demands[s.CORE_TEXT].map(compact), strict=True))
    sets = {d: shingles(t, config.shingle_size) for d, t in zip(ids, demands[s.CORE_TEXT], strict=True)}
    uf = _UnionFind(ids)
    first_with_key: dict[str, str] = {}
    for demand in sorted(ids):
        if keys[demand]:
            uf.union(first_with_key.setdefault(keys[demand], demand), demand)
    for a, b, _ in near_pairs(sets, config):
        uf.union(a, b)
    members: dict[str, list[str]] = {}
    for demand in ids:
        members.setdefault(uf.find(demand), []).append(demand)
    lengths = dict(zip(ids, demands[s.CORE_TEXT].str.len(), strict=True))
    columns: dict[str, dict[str, object]] = {c: {} for c in _OUTPUT_COLUMNS}
    for group in members.values():
        _describe_group(sorted(group), keys, sets, lengths, config, columns)
    return demands.assign(**{c: demands[s.DEMAND_ID].map(v) for c, v in columns.items()})


_OUTPUT_COLUMNS = (s.DUPLICATE_GROUP, s.DUPLICATE_KIND, s.DUPLICATE_SCORE, s.DUPLICATE_OF, s.DUPLICATE_REASON)


def _describe_group(
    group: list[str],
    keys: dict[str, str],
    sets: dict[str, set[str]],
    lengths: dict[str, int],
    config: DedupConfig,
    out: dict[str, dict[str, object]],
) -> None:
    """Fill the output columns for one group (a lone demand gets empty values)."""
    if len(group) == 1:
        for column, value in zip(_OUTPUT_COLUMNS, ("", "", float("nan"), "", ""), strict=True):
            out[column][group[0]] = value
        return
    group_id = "G" + group[0][1:]
    rep = min(group, key=lambda d: (-lengths[d], d))  # the most complete text represents the group
    kinds = {d: "exact" if keys[d] == keys[rep] else "near" for d in group}
    for demand in group:
        score = 1.0 if kinds[demand] == "exact" else jaccard(sets[demand], sets[rep])
        out[s.DUPLICATE_GROUP][demand] = group_id
        out[s.DUPLICATE_SCORE][demand] = round(score, 4)
        if demand == rep:
            out[s.DUPLICATE_KIND][demand] = "exact" if all(k == "exact" for k in kinds.values()) else "near"
            out[s.DUPLICATE_OF][demand] = ""
            out[s.DUPLICATE_REASON][demand] = f"重复组代表条目（组内共 {len(group)} 条，取描述最完整者）"
        elif kinds[demand] == "exact":
            out[s.DUPLICATE_KIND][demand] = "exact"
            out[s.DUPLICATE_OF][demand] = rep
            out[s.DUPLICATE_REASON][demand] = f"与 {rep} 规范化后正文完全相同"
        else:
            out[s.DUPLICATE_KIND][demand] = "near"
            out[s.DUPLICATE_OF][demand] = rep
            out[s.DUPLICATE_REASON][demand] = (
                f"与 {rep} 的字符{config.shingle_size}-gram Jaccard 相似度 {score:.2f}"
                f"（MinHash/LSH 候选，经校验，阈值 {config.near_threshold:.2f}）"
            )
