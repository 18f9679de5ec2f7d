"""Scores of draft-list entries on 紧迫度 / 解决难易度 / 市场推广, each with the evidence that earned it.

A dimension's score is the rubric's base plus the points of every signal found in the entry's member demands
(stated deadlines, funding, distinct enterprises, recurrence, quantified indicators, wording, cooperation modes),
clamped to 0-100. The evidence string lists each signal with its points, so the arithmetic can be checked by hand:
"紧迫度 72：截止期 6 个月内（“2027年6月”） +40；文中“急需” +20；3 家企业 +12". The weights are data
(`pipelines.rubric`); this module only counts. Pure functions over DataFrames.
"""

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

import pandas as pd

from . import schema as s
from .rubric import DIMENSION_LABELS, DIMENSIONS, Dimension, PerItem, Rubric, load_rubric
from .signals import months_until, quantified_targets

__all__ = [
    "SCORE_COLUMNS",
    "EntrySignals",
    "Rubric",
    "entry_signals",
    "load_rubric",
    "score_entries",
    "total_of",
    "with_rank",
]

# --- columns added to the drafts frame (added, never renamed) -----------------------------------------------
SCORE_OF = {d: f"score_{d}" for d in DIMENSIONS}  # 0-100, one decimal
EVIDENCE_OF = {d: f"score_{d}_evidence" for d in DIMENSIONS}  # Chinese, "紧迫度 72：… +40；…"
SCORE_TOTAL = "score_total"  # weighted mean of the dimensions × chain priority, 0-100
SCORE_TOTAL_EVIDENCE = "score_total_evidence"
SCORE_RANK = "score_rank"  # 1 = highest total within the entry's chain
SCORE_SOURCE = "score_source"  # computed / expert (replaced) / blend
SCORE_EXPERTS = "score_experts"  # "、"-joined names of the experts whose scores are in ("" when none)
SCORE_COLUMNS = [
    *(c for d in DIMENSIONS for c in (SCORE_OF[d], EVIDENCE_OF[d])),
    *(SCORE_TOTAL, SCORE_TOTAL_EVIDENCE, SCORE_RANK, SCORE_SOURCE, SCORE_EXPERTS),
]
# a member demand raised in an earlier call carries the earlier demand's id here (issue 5, library across calls);
# frames without the column count no recurrence
LINKED_DEMAND_ID = "linked_demand_id"

Item = tuple[str, float]  # (Chinese label, points)


@dataclass(frozen=True)
class EntrySignals:
    """What one entry's members state, before any weighting."""

    months: float | None  # months to the nearest stated deadline (0 when passed), None when none is stated
    deadline_text: str  # that deadline as written
    funding: float  # 万元, summed over members
    enterprises: int  # distinct enterprises: by credit code when given, else by name
    recurring: int  # members linked to an earlier call's demand
    indicators: tuple[str, ...]  # distinct quantified targets over all members
    texts: tuple[str, ...]  # each member's title + text
    coop_modes: tuple[str, ...]  # each member's stated cooperation mode


def _column(frame: pd.DataFrame, column: str) -> pd.Series:
    return frame[column].fillna("").astype(str) if column in frame.columns else pd.Series("", index=frame.index)


def _enterprise_count(members: pd.DataFrame) -> int:
    codes = _column(members, s.CREDIT_CODE).str.strip().str.upper()
    names = _column(members, s.ENTERPRISE).str.strip()
    keys = {f"code:{c}" if c else f"name:{n}" for c, n in zip(codes, names, strict=True) if c or n}
    return len(keys)


def _nearest_deadline(deadlines: Iterable[str], as_of: dt.date) -> tuple[float | None, str]:
    found = [(m, text) for text in deadlines if (m := months_until(text, as_of)) is not None]
    return min(found) if found else (None, "")


def entry_signals(demands: pd.DataFrame, entry_of: pd.Series, as_of: dt.date) -> dict[str, EntrySignals]:
    """Entry id -> its signals. `entry_of`: each demand's entry id, aligned with `demands` (drafts.entry_ids)."""
    texts = _column(demands, s.TITLE) + "\n" + _column(demands, s.TEXT)
    frame = pd.DataFrame(
        {
            "entry": entry_of.astype(str),
            "text": texts,
            "deadline": _column(demands, s.DEADLINE),
            "funding": pd.to_numeric(demands[s.FUNDING], errors="coerce") if s.FUNDING in demands.columns else 0.0,
            "linked": _column(demands, LINKED_DEMAND_ID).str.strip() != "",
            "coop": _column(demands, s.COOP_MODE),
        },
        index=demands.index,
    )
    out: dict[str, EntrySignals] = {}
    for entry, members in frame.groupby("entry", sort=True):
        months, deadline_text = _nearest_deadline(members["deadline"], as_of)
        indicators = dict.fromkeys(i for text in members["text"] for i in quantified_targets(text))
        out[str(entry)] = EntrySignals(
            months=months,
            deadline_text=deadline_text,
            funding=float(members["funding"].fillna(0).clip(lower=0).sum()),
            enterprises=_enterprise_count(demands.loc[members.index]),
            recurring=int(members["linked"].sum()),
            indicators=tuple(indicators),
            texts=tuple(members["text"]),
            coop_modes=tuple(members["coop"]),
        )
    return out


def _per_item(rule: PerItem | None, count: int, label: str) -> list[Item]:
    if rule is None or count <= 0:
        return []
    raw = rule.per * count
    points = max(min(raw, rule.cap), -rule.cap)  # the cap bounds penalties as well as gains
    return [(f"{label}{'（封顶）' if points != raw else ''}", points)]


def _word_items(words: dict[str, float], haystacks: tuple[str, ...], cap: float, where: str, group: str) -> list[Item]:
    """One item per rubric word found (counted once per entry), then a correction down to `cap` if exceeded."""
    items: list[Item] = []
    for word, points in words.items():
        hits = sum(word in text for text in haystacks)
        if hits:
            items.append((f"{where}“{word}”" + (f"（{hits} 条）" if hits > 1 else ""), points))
    gained = sum(p for _, p in items)
    if gained > cap:
        items.append((f"{group}加分封顶 {cap:g}", cap - gained))
    return items


def dimension_items(rule: Dimension, sig: EntrySignals) -> list[Item]:
    """Every signal of `sig` that `rule` counts, with its points, in a fixed order."""
    items: list[Item] = [("基础分", rule.base)] if rule.base else []
    if sig.months is not None:
        step = next((st for st in rule.deadline if sig.months <= st.within_months), None)
        if step is not None:
            passed = "，已过" if sig.months <= 0 else ""  # a passed deadline still states an urgent need
            items.append((f"截止期 {step.within_months:g} 个月内（“{sig.deadline_text}”{passed}）", step.points))
    if sig.funding > 0:
        fund = next((st for st in rule.funding if sig.funding >= st.at_least), None)
        if fund is not None:
            items.append((f"拟投入资金合计 {sig.funding:g} 万元（≥{fund.at_least:g}）", fund.points))
    shown = "、".join(f"“{i}”" for i in sig.indicators[:3]) + ("等" if len(sig.indicators) > 3 else "")
    items += _per_item(rule.indicators, len(sig.indicators), f"量化指标 {len(sig.indicators)} 项（{shown}）")
    items += _word_items(rule.keywords, sig.texts, rule.keywords_cap, "文中", "关键词")
    items += _word_items(rule.coop_modes, sig.coop_modes, rule.coop_cap, "合作方式", "合作方式")
    items += _per_item(rule.enterprises, sig.enterprises, f"{sig.enterprises} 家企业")
    items += _per_item(rule.recurrence, sig.recurring, f"{sig.recurring} 条需求往期批次已提出")
    return [(label, points) for label, points in items if points != 0]


def _clamped(items: list[Item]) -> float:
    return round(min(100.0, max(0.0, sum(p for _, p in items))), 1)


def evidence_text(dimension: str, score: float, items: list[Item]) -> str:
    """ "紧迫度 72：截止期 6 个月内 +40；文中“急需” +20"; "紧迫度 0：未发现依据" when nothing was found."""
    listed = "；".join(f"{label} {points:+g}" for label, points in items) or "未发现依据"
    raw = sum(p for _, p in items)
    note = "（合计超过 100，记 100）" if raw > 100 else "（合计低于 0，记 0）" if raw < 0 else ""
    return f"{DIMENSION_LABELS[dimension]} {score:g}：{listed}{note}"


def total_of(scores: dict[str, float], chain_id: str, rubric: Rubric) -> tuple[float, str]:
    """(total 0-100, its Chinese evidence): dimension scores weighted by the rubric, × the chain's priority."""
    mean = sum(scores[d] * rubric.total_weights.share(d) for d in DIMENSIONS)
    priority = rubric.priority(chain_id)
    total = round(min(100.0, mean * priority), 1)
    terms = " + ".join(f"{DIMENSION_LABELS[d]} {scores[d]:g}×{rubric.total_weights.share(d):.2f}" for d in DIMENSIONS)
    text = f"总分 {total:g} = {terms}"
    if priority != 1:
        text += f"；产业链优先系数 ×{priority:g}" + ("（超过 100，记 100）" if mean * priority > 100 else "")
    return total, text


def rank_within_chain(frame: pd.DataFrame) -> pd.Series:
    """1 = highest SCORE_TOTAL within CHAIN_ID; ties ordered by ENTRY_ID (deterministic)."""
    order = frame.assign(_neg=-frame[SCORE_TOTAL]).sort_values([s.CHAIN_ID, "_neg", s.ENTRY_ID], kind="stable")
    return order.groupby(s.CHAIN_ID, sort=False).cumcount().add(1).reindex(frame.index).astype("int64")


def score_entries(
    drafts: pd.DataFrame,
    demands: pd.DataFrame,
    rubric: Rubric,
    entry_of: pd.Series,
    *,
    as_of: dt.date | None = None,
) -> pd.DataFrame:
    """`drafts` (same rows, same order) with SCORE_COLUMNS added.

    Input: drafts (ENTRY_ID, CHAIN_ID), the member demands (TITLE, TEXT; DEADLINE, FUNDING, CREDIT_CODE,
    ENTERPRISE, COOP_MODE, LINKED_DEMAND_ID when present) and each demand's entry id `entry_of`. Deadlines given
    as dates are counted from `as_of` (default: today). An entry without members scores 0 with "未发现依据".
    """
    s.require_columns(drafts, [s.ENTRY_ID, s.CHAIN_ID], "scoring")
    signals = entry_signals(demands, entry_of, as_of or dt.date.today())
    empty = EntrySignals(None, "", 0.0, 0, 0, (), (), ())
    added: dict[str, list[object]] = {c: [] for c in SCORE_COLUMNS}
    for entry, chain_id in zip(drafts[s.ENTRY_ID].astype(str), drafts[s.CHAIN_ID].astype(str), strict=True):
        sig = signals.get(entry, empty)
        scores: dict[str, float] = {}
        for dim in DIMENSIONS:
            items = dimension_items(rubric.dimensions.of(dim), sig)
            scores[dim] = _clamped(items)
            added[SCORE_OF[dim]].append(scores[dim])
            added[EVIDENCE_OF[dim]].append(evidence_text(dim, scores[dim], items))
        total, why = total_of(scores, chain_id, rubric)
        added[SCORE_TOTAL].append(total)
        added[SCORE_TOTAL_EVIDENCE].append(why)
        added[SCORE_SOURCE].append("computed")
        added[SCORE_EXPERTS].append("")
    scored = drafts.assign(**{c: pd.Series(v, index=drafts.index) for c, v in added.items() if c != SCORE_RANK})
    return with_rank(scored)


def with_rank(scored: pd.DataFrame) -> pd.DataFrame:
    """`scored` with SCORE_RANK (re)computed and SCORE_COLUMNS last, in their listed order."""
    ranked = scored.assign(**{SCORE_RANK: rank_within_chain(scored) if len(scored) else pd.Series(dtype="int64")})
    return ranked[[c for c in ranked.columns if c not in SCORE_COLUMNS] + SCORE_COLUMNS]
