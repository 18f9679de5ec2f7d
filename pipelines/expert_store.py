"""Library methods for expert panel scores of draft-list entries (migration 6, `ningliang scores import`).

One stored row per entry and expert (the expert's latest scores); every stored or changed row is an
"expert_score" event whose actor is the expert. The next pipeline run blends or replaces the computed scores
with them (`expert_scores.apply_expert_scores`).
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from . import migrations as m
from . import schema as s
from .corrections import Problem
from .decisions import current_entries
from .expert_scores import EXPERT, EXPERT_COLUMNS
from .recurrence import call_order
from .rubric import DIMENSION_LABELS, DIMENSIONS

EXPERT_KIND = "expert_score"
MEMBERS = "members"  # the entry's member demand ids (";"-joined, sorted) when scored
STORED_COLUMNS = [*EXPERT_COLUMNS, MEMBERS, m.AT]


@dataclass
class ExpertImportReport:
    """What one import did: rows stored (new or changed), rows already stored as they are, rows refused."""

    stored: int = 0
    unchanged: int = 0
    problems: list[Problem] = field(default_factory=list)


class ExpertScoresMixin:
    """Store expert scores (the Library provides `_ready`, `demands`, `runs`; DecisionsMixin `staff_decisions`)."""

    def _ready(self) -> Engine:  # pragma: no cover - pipelines.store.Library overrides it
        raise NotImplementedError

    def demands(self, call_id: str | None = None) -> pd.DataFrame:  # pragma: no cover - Library overrides it
        raise NotImplementedError

    def runs(self, call_id: str | None = None) -> pd.DataFrame:  # pragma: no cover - Library overrides it
        raise NotImplementedError

    def staff_decisions(self) -> pd.DataFrame:  # pragma: no cover - DecisionsMixin provides it
        raise NotImplementedError

    def expert_scores(self) -> pd.DataFrame:
        """Every stored expert score (STORED_COLUMNS; dimensions float 0-100, NaN = not scored), by entry and expert."""
        t = m.EXPERT_SCORES
        with self._ready().connect() as conn:
            rows = conn.execute(sa.select(t).order_by(*m.code_point_order(conn, t.c.entry_id, t.c.expert))).mappings()
            frame = pd.DataFrame([dict(r) for r in rows], columns=STORED_COLUMNS)
        return frame.astype({d: "float64" for d in DIMENSIONS})

    def store_expert_scores(self, scores: pd.DataFrame) -> ExpertImportReport:
        """Check each row of `scores` (EXPERT_COLUMNS, as read by `read_expert_scores`) against the entries as staff
        see them now (staff decisions applied) and store the valid ones in ONE transaction, an "expert_score" event
        each. A row equal to the stored scores of that entry and expert changes nothing (re-importing a file is
        idempotent); a different one replaces them, and its event names the earlier scores."""
        report = ExpertImportReport()
        demands = self.demands()
        entries = current_entries(demands, self.staff_decisions())
        latest_call = _latest_call(demands, call_order(self.runs(), ""))
        stored: dict[tuple[str, str], Mapping[str, Any]] = {
            (str(r[s.ENTRY_ID]), str(r[EXPERT])): {str(k): v for k, v in r.items()}
            for r in self.expert_scores().to_dict("records")
        }
        stamp = m.now_utc()
        inserts: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        events: list[dict[str, Any]] = []
        for raw in scores.to_dict("records"):
            row = {str(k): v for k, v in raw.items()}
            entry, expert = str(row[s.ENTRY_ID]), str(row[EXPERT])
            if entry not in entries:
                reason = f"需求库中没有条目“{entry}”（未知条目，请从最近一次生成的需求清单复制条目编号）"
                report.problems.append(Problem(str(row[s.SOURCE_FILE]), int(row[s.SOURCE_ROW]), "条目编号", reason))
                continue
            old = stored.get((entry, expert))
            if old is not None and _same_scores(old, row):
                report.unchanged += 1
                continue
            record = {c: m.db_value(row[c], sa.Float) for c in DIMENSIONS}
            record |= {s.ENTRY_ID: entry, EXPERT: expert, MEMBERS: ";".join(sorted(entries[entry]))}
            record |= {s.SOURCE_FILE: str(row[s.SOURCE_FILE]), s.SOURCE_ROW: int(row[s.SOURCE_ROW]), m.AT: stamp}
            (inserts if old is None else updates).append(record)
            stored[(entry, expert)] = record
            events.append(_event(record, old, latest_call(entries[entry]), stamp))
        t = m.EXPERT_SCORES
        with self._ready().begin() as conn:
            for record in updates:
                key = (t.c.entry_id == record[s.ENTRY_ID]) & (t.c.expert == record[EXPERT])
                conn.execute(sa.update(t).where(key).values(record))
            if inserts:
                conn.execute(sa.insert(t), inserts)
            if events:
                conn.execute(sa.insert(m.EVENTS), events)
        report.stored = len(inserts) + len(updates)
        return report


def _same_scores(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    def value(v: Any) -> float | None:
        return None if v is None or (isinstance(v, float) and np.isnan(v)) else round(float(v), 6)

    return all(value(old[d]) == value(new[d]) for d in DIMENSIONS)


def scores_text(record: Mapping[str, Any]) -> str:
    """ "紧迫度 80；解决难易度 未评；市场推广 70" for a stored or read row."""
    parts = []
    for dim in DIMENSIONS:
        v = record[dim]
        shown = "未评" if v is None or (isinstance(v, float) and np.isnan(v)) else f"{float(v):g}"
        parts.append(f"{DIMENSION_LABELS[dim]} {shown}")
    return "；".join(parts)


def _event(record: dict[str, Any], old: Mapping[str, Any] | None, call_id: str | None, stamp: str) -> dict[str, Any]:
    why = f"专家评分导入（{record[s.SOURCE_FILE]} 第 {record[s.SOURCE_ROW]} 行）"
    if old is not None:
        why += f"；替换此前评分（{scores_text(old)}）"
    return {
        m.AT: stamp, m.RUN_ID: None, s.CALL_ID: call_id, m.DEMAND_REF: None, m.KIND: EXPERT_KIND,
        m.ACTOR: record[EXPERT], m.FIELD: s.ENTRY_ID, m.OLD_VALUE: record[s.ENTRY_ID],
        m.NEW_VALUE: scores_text(record), s.EVIDENCE: why,
    }  # fmt: skip


def _latest_call(demands: pd.DataFrame, order: Mapping[str, int]) -> Callable[[frozenset[str]], str | None]:
    """A function: member demand ids -> the latest call among them (by the calls' first runs)."""
    call_of = dict(zip(demands[s.DEMAND_ID].astype(str), demands[s.CALL_ID].astype(str), strict=True))

    def latest(members: frozenset[str]) -> str | None:
        calls = {call_of[d] for d in members if d in call_of}
        return max(calls, key=lambda c: (order.get(c, len(order)), c)) if calls else None

    return latest
