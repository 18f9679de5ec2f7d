"""Duplicate groups in two layers, every pair decision explained.

1. Copies: exact copies after normalisation, and near-copies found by MinHash/LSH (rensa) over character shingles
   of the boilerplate-stripped text and verified by their true Jaccard similarity.
2. Re-posts: the same need reworded by another enterprise, found among each demand's nearest sentence vectors and
   verified by agreement on segmented terms.
Both layers are vetoed when the two demands name different objects (a rare title term or model number of each is
missing from the other: "磷酸铁锂电解液" vs "三元811电解液"), so a shared template never makes two needs one.

Every duplicate stays its own accepted row; it only gains a shared DUPLICATE_GROUP whose id derives from its
smallest member id, so it does not depend on row order.

Modules: `dedup_texts` (what is read of each demand), `dedup_candidates` (which pairs are examined),
`dedup_features` (what is measured on them, all pairs at once), this module (the rules and their reasons) and
`dedup_groups` (groups from the decisions).
"""

import numpy as np
import pandas as pd

from . import schema as s
from .dedup_candidates import candidate_pairs
from .dedup_features import FEATURE_COLUMNS, PairFeatures, measure_pairs
from .dedup_groups import group_duplicates
from .dedup_texts import DemandTexts, demand_texts
from .embed import Encoder
from .need_text import need_texts
from .settings import DedupConfig

__all__ = ["FEATURE_COLUMNS", "PAIR_COLUMNS", "detect_pairs", "find_duplicates", "group_duplicates", "need_texts",
           "pair_features"]  # fmt: skip
_SHOWN_TERMS = 6  # shared and conflicting terms a pair row lists
PAIR_COLUMNS = ["demand_a", "demand_b", "rule", "decision", "jaccard", "cosine", "term_overlap", "shared_terms",
                "conflicting_terms", "reason"]  # fmt: skip


def detect_pairs(
    demands: pd.DataFrame,
    config: DedupConfig,
    vectors: np.ndarray | None = None,
    encoder: Encoder | None = None,
    query: np.ndarray | None = None,
    bands: np.ndarray | None = None,
) -> pd.DataFrame:
    """Every duplicate decision on a candidate pair: PAIR_COLUMNS, decision "merged" or "kept_apart".

    Input columns: DEMAND_ID, CORE_TEXT, NORM_TITLE, TOKENS, TITLE_TOKENS (NORM_TEXT when present: the need text is
    read from it); `vectors` row-aligned and L2-normalised (without them only the copy layer runs); `encoder`, the
    one that made `vectors`, lets re-posts be checked sentence by sentence (without it, on whole-text features).
    Scores lie in [0, 1] (cosine may be NaN when not computed). `query` (bool mask): judge only pairs with at
    least one of these demands (a call against the library context); `bands`: MinHash band keys already computed.
    """
    s.require_columns(demands, [s.DEMAND_ID, s.CORE_TEXT, s.NORM_TITLE, s.TOKENS, s.TITLE_TOKENS], "detect_pairs")
    t = demand_texts(demands, config)
    f = measure_pairs(t, candidate_pairs(t, config, vectors, query, bands), config, encoder)
    return pd.DataFrame(_decisions(t, f, config), columns=PAIR_COLUMNS)


def pair_features(
    demands: pd.DataFrame, config: DedupConfig, vectors: np.ndarray | None = None, encoder: Encoder | None = None
) -> pd.DataFrame:
    """The candidate pairs detect_pairs judges, with every feature it reads (FEATURE_COLUMNS): for fitting."""
    t = demand_texts(demands, config)
    f = measure_pairs(t, candidate_pairs(t, config, vectors), config, encoder, complete=True)
    columns = {name: getattr(f, name) for name in FEATURE_COLUMNS if name != "conflict"}
    conflict = [all(_conflict(t, a, b)) for a, b in zip(f.a.tolist(), f.b.tolist(), strict=True)]
    ids = np.array(t.ids, dtype=object)
    return pd.DataFrame({"demand_a": ids[f.a], "demand_b": ids[f.b], **columns, "conflict": conflict})


def find_duplicates(
    demands: pd.DataFrame, config: DedupConfig, vectors: np.ndarray | None = None, encoder: Encoder | None = None
) -> pd.DataFrame:
    """detect_pairs then group_duplicates: the demands frame with the duplicate columns added."""
    return group_duplicates(demands, detect_pairs(demands, config, vectors, encoder), config, vectors)


def _decisions(t: DemandTexts, f: PairFeatures, config: DedupConfig) -> list[dict[str, object]]:
    """Apply the rules to every candidate pair, in pair order; a row per pair worth recording.

    Exact copies (equal non-empty keys) merge; near-copies and re-posts whose probability reaches
    reworded_probability merge unless the key-term veto keeps them apart; every other candidate is not recorded.
    """
    key = pd.factorize(pd.Index(t.keys, dtype=object))[0]
    exact = (key[f.a] == key[f.b]) & (np.array([bool(k) for k in t.keys])[f.a])
    near = ~exact & f.near(config)
    probability = f.reworded_probability(config)
    reworded = ~exact & f.reworded_candidate(config) & (probability >= config.reworded_probability)
    recorded = np.flatnonzero(exact | near | reworded)
    shared_terms = t.shared_terms(f.a[recorded], f.b[recorded], _SHOWN_TERMS)
    rows = []
    for p, shared in zip(recorded.tolist(), shared_terms, strict=True):
        a, b = int(f.a[p]), int(f.b[p])
        cosine = None if np.isnan(f.cosine[p]) else float(f.cosine[p])
        if exact[p]:
            rows.append(_pair(t, a, b, "exact", "merged", 1.0, cosine, 0.0, [], [], "规范化后正文完全相同"))
            continue
        rule, jac, overlap = ("near" if near[p] else "reworded"), float(f.jaccard[p]), float(f.overlap[p])
        c = _conflict(t, a, b)
        if c[0] and c[1]:
            why = f"对象不同：「{'、'.join(c[0][:3])}」与「{'、'.join(c[1][:3])}」，不视为重复"
            rows.append(_pair(t, a, b, rule, "kept_apart", jac, cosine, overlap, shared, c[0] + c[1], why))
            continue
        if rule == "near" and jac < config.near_threshold:
            why = f"句子相同、顺序不同：逐句字面对齐 {f.lexical[p]:.2f} ≥ {config.same_sentences:.2f}"
        elif rule == "near":
            why = f"字符{config.shingle_size}-gram Jaccard {jac:.2f} ≥ {config.near_threshold:.2f}（LSH 候选，经校验）"
        else:
            why = f"视为同一需求的改写：{_evidence(f, p, float(probability[p]), config)}"
        rows.append(_pair(t, a, b, rule, "merged", jac, cosine, overlap, shared, [], why))
    return rows


def _conflict(t: DemandTexts, a: int, b: int) -> tuple[list[str], list[str]]:
    """The key-term check: the key terms (rare title terms, model numbers) of each that the other's text lacks; the
    pair names different objects when both lists are non-empty (b's is not looked for when a's is empty)."""
    alias = {**t.aliases(a), **t.aliases(b)}
    missing = t.missing_key_terms(a, b, alias)
    return (missing, t.missing_key_terms(b, a, alias)) if missing else ([], [])


def _evidence(f: PairFeatures, p: int, probability: float, config: DedupConfig) -> str:
    sentence = "" if np.isnan(f.sentence[p]) else f"，句子语义对齐 {f.sentence[p]:.2f}，句子字面对齐 {f.lexical[p]:.2f}"
    return (f"语义相似度 {f.cosine[p]:.2f}，关键词重合 {f.overlap[p]:.2f}，标题词重合 {f.title_overlap[p]:.2f}，"
            f"数值一致 {f.numbers[p]:.2f}{sentence} → 概率 {probability:.2f} ≥ "
            f"{config.reworded_probability:.2f}")  # fmt: skip


def _pair(
    t: DemandTexts, a: int, b: int, rule: str, decision: str, score: float, cosine: float | None, overlap: float,
    shared: list[str], conflicting: list[str], reason: str,
) -> dict[str, object]:  # fmt: skip
    return {
        "demand_a": t.ids[a], "demand_b": t.ids[b], "rule": rule, "decision": decision,
        "jaccard": round(score, 4), "cosine": round(cosine, 4) if cosine is not None else float("nan"),
        "term_overlap": round(overlap, 4), "shared_terms": "、".join(shared[:_SHOWN_TERMS]),
        "conflicting_terms": "、".join(conflicting[:_SHOWN_TERMS]), "reason": reason,
    }  # fmt: skip
