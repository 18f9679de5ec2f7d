"""Library methods for staff decisions on draft-list entries (migration 5)."""

from collections.abc import Iterable
from dataclasses import dataclass, field

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from . import migrations as m
from . import schema as s
from .corrections import Problem
from .decisions import ACTION_LABELS, DECISION_COLUMNS, StaffDecision, as_frame, check_decision, current_entries

DECISION_KIND = "staff_decision"
_SAME = ("action", "target", "demand_ids", "new_title", "reviewer", "reason")


@dataclass
class DecisionReport:
    applied: list[StaffDecision] = field(default_factory=list)
    unchanged: int = 0
    problems: list[Problem] = field(default_factory=list)


class DecisionsMixin:
    """Store staff decisions (the Library provides `_ready` and `demands`)."""

    def _ready(self) -> Engine:  # pragma: no cover - pipelines.store.Library overrides it
        raise NotImplementedError

    def demands(self, call_id: str | None = None) -> pd.DataFrame:  # pragma: no cover - Library overrides it
        raise NotImplementedError

    def staff_decisions(self) -> pd.DataFrame:
        """Every stored decision (DECISION_COLUMNS), in the order taken."""
        t = m.ENTRY_DECISIONS
        with self._ready().connect() as conn:
            rows = conn.execute(sa.select(t).order_by(*m.code_point_order(conn, t.c.at, t.c.decision_id))).mappings()
            return pd.DataFrame([dict(r) for r in rows], columns=["decision_id", *DECISION_COLUMNS])

    def apply_staff_decisions(self, rows: Iterable[StaffDecision]) -> DecisionReport:
        """Check each row against the entries as staff see them now (earlier decisions applied); store the valid
        ones in ONE transaction with a "staff_decision" event each. A row identical to the latest decision of the
        same reviewer on the same entry and action is skipped (importing a file twice changes nothing)."""
        report = DecisionReport()
        stored = self.staff_decisions()
        entries = current_entries(self.demands(), stored)
        valid = []
        for row in rows:
            if _repeats(stored, row):  # before checking: a split member is no longer in its old entry
                report.unchanged += 1
                continue
            checked = check_decision(row, entries)
            if isinstance(checked, Problem):
                report.problems.append(checked)
            else:
                valid.append(checked)
        stamp = m.now_utc()
        frame = as_frame(valid, entries, stamp)
        with self._ready().begin() as conn:
            for record, d in zip(frame.to_dict("records"), valid, strict=True):
                conn.execute(m.ENTRY_DECISIONS.insert().values(record))
                conn.execute(
                    m.EVENTS.insert().values(
                        at=stamp, run_id=None, call_id=None, demand_id=None, kind=DECISION_KIND, actor=d.reviewer,
                        field=s.ENTRY_ID, old_value=d.entry_id, new_value=_outcome(d), evidence=_why(d),
                    )
                )  # fmt: skip
        report.applied = valid
        return report


def _repeats(stored: pd.DataFrame, d: StaffDecision) -> bool:
    same = stored[(stored[s.ENTRY_ID] == d.entry_id) & (stored["action"] == d.action)]
    if same.empty:
        return False
    last = same.iloc[-1]
    new = (d.action, d.target, ";".join(d.demand_ids), d.new_title, d.reviewer, d.reason)
    return tuple(str(last[c] or "") for c in _SAME) == new


def _outcome(d: StaffDecision) -> str:
    detail = {"merge": d.target, "split": ";".join(d.demand_ids), "withdraw": ";".join(d.demand_ids)}
    text = detail.get(d.action, d.new_title if d.action == "retitle" else "")
    return f"{ACTION_LABELS[d.action]}" + (f"：{text}" if text else "")


def _why(d: StaffDecision) -> str:
    where = f"（{d.source_file} 第 {d.source_row} 行）" if d.source_file else ""
    return (d.reason or "") + where
