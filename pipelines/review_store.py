"""The library side of the review loop: apply corrections, read human decisions and the arbitration list.

`CorrectionsMixin` is mixed into `pipelines.store.Library` (which provides the engine through `_ready`), so these
are Library methods: `apply_corrections`, `human_mappings`, `corrections`, `arbitration`,
`demands_by_external_id`. The rules (who wins, what conflicts) are `pipelines.corrections.decide`.
"""

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from . import migrations as m
from . import schema as s
from .corrections import (
    ARBITRATION_COLUMNS,
    CONFIRMATION_KIND,
    CONFLICT_KIND,
    CORRECTION_KIND,
    CURRENT_CHAIN_ID,
    CURRENT_INDUSTRY_ID,
    HUMAN_COLUMNS,
    Correction,
    CorrectionReport,
    Problem,
    Proposal,
    check_correction,
    decide,
    default_taxonomy,
    human_values,
    same_mapping,
)
from .taxonomy import Taxonomy

_DECIDED = (s.INDUSTRY_ID, s.CHAIN_ID)


class CorrectionsMixin:
    """Library methods for the review loop (the Library provides `_ready`)."""

    def _ready(self) -> Engine:  # pragma: no cover - pipelines.store.Library overrides it
        raise NotImplementedError

    def apply_corrections(self, rows: Iterable[Correction], taxonomy: Taxonomy | None = None) -> CorrectionReport:
        """Validate `rows` (ids against `taxonomy`, default the shipped one; reviewer; demand in the library)
        and apply the valid ones in ONE transaction; invalid rows are reported, never applied.

        Events (actor = reviewer, run_id NULL): "correction" per changed field (old / new value),
        "confirmation" when a first human decision keeps the stored value, "conflict" for a proposal that
        sends the demand to arbitration. A row identical to the reviewer's current proposal, or to the
        current human decision, writes no event (importing a file twice changes nothing).
        """
        tax = taxonomy or default_taxonomy()
        report, valid = CorrectionReport(), []
        for row in rows:
            checked = check_correction(row, tax)
            if isinstance(checked, Problem):
                report.problems.append(checked)
            else:
                valid.append(checked)
        stamp = m.now_utc()
        with self._ready().begin() as conn:
            stored = {
                r[s.DEMAND_ID]: dict(r) for r in m.select_in(conn, m.DEMANDS, s.DEMAND_ID, [r.demand_id for r in valid])
            }
            batches: dict[str, list[Correction]] = {}
            for row in valid:
                if row.demand_id in stored:
                    batches.setdefault(row.demand_id, []).append(row)
                else:
                    column = s.DEMAND_ID if s.DEMAND_ID in row.labels or not row.labels else s.EXTERNAL_ID
                    report.problems.append(row.problem(column, f"需求库中没有需求“{row.demand_id}”（未知需求）"))
            proposals = _proposals(conn, list(batches))
            human = {r[m.DEMAND_REF]: dict(r) for r in m.select_in(conn, m.HUMAN_MAPPING, m.DEMAND_REF, batches)}
            for demand_id, batch in batches.items():
                step = _Demand(conn, stored[demand_id], proposals.get(demand_id, {}), human.get(demand_id), stamp)
                report.merge(step.apply(batch, tax))
        return report

    def human_mappings(self) -> pd.DataFrame:
        """Every human decision: demand_id, industry_id, chain_id, reviewer, at, industry, chain (names), note."""
        with self._ready().connect() as conn:
            order = m.code_point_order(conn, m.HUMAN_MAPPING.c.demand_id)
            rows = conn.execute(sa.select(m.HUMAN_MAPPING).order_by(*order)).mappings()
            return pd.DataFrame([dict(r) for r in rows], columns=HUMAN_COLUMNS)

    def corrections(self) -> pd.DataFrame:
        """Every reviewer's current proposal per demand (the `corrections` table), by demand, time, reviewer."""
        t = m.CORRECTIONS
        with self._ready().connect() as conn:
            result = conn.execute(sa.select(t).order_by(*m.code_point_order(conn, t.c.demand_id, t.c.at, t.c.reviewer)))
            return pd.DataFrame(result.fetchall(), columns=list(result.keys()))

    def arbitration(self) -> pd.DataFrame:
        """The arbitration list: a row per current proposal on each demand whose proposals disagree.

        Columns ARBITRATION_COLUMNS: the demand (call, external id, title), the value it keeps meanwhile
        (current_industry_id / current_chain_id) and each proposal with reviewer, role, note, file, row, time.
        """
        table = self.corrections()
        disputed = [
            str(demand_id)
            for demand_id, group in table.groupby(s.DEMAND_ID, sort=True)
            if decide([_proposal(r) for r in group.to_dict("records")]) is None
        ]
        with self._ready().connect() as conn:
            shown = {r[s.DEMAND_ID]: dict(r) for r in m.select_in(conn, m.DEMANDS, s.DEMAND_ID, disputed)}
        rows = []
        for record in table[table[s.DEMAND_ID].isin(disputed)].to_dict("records"):
            demand = shown.get(record[s.DEMAND_ID], {})
            rows.append(
                record
                | {c: demand.get(c) for c in (s.CALL_ID, s.EXTERNAL_ID, s.TITLE)}
                | {CURRENT_INDUSTRY_ID: demand.get(s.INDUSTRY_ID), CURRENT_CHAIN_ID: demand.get(s.CHAIN_ID)}
            )
        frame = pd.DataFrame(rows, columns=ARBITRATION_COLUMNS)
        return frame.sort_values([s.CALL_ID, s.DEMAND_ID, m.AT], kind="stable").reset_index(drop=True)

    def demands_by_external_id(self, external_ids: Iterable[str]) -> dict[str, list[tuple[str, str]]]:
        """external_id -> sorted [(demand_id, call_id), ...] for the external ids found in the library."""
        found: dict[str, list[tuple[str, str]]] = {}
        with self._ready().connect() as conn:
            for row in m.select_in(conn, m.DEMANDS, s.EXTERNAL_ID, external_ids):
                found.setdefault(row[s.EXTERNAL_ID], []).append((row[s.DEMAND_ID], row[s.CALL_ID]))
        return {k: sorted(v) for k, v in found.items()}


def _proposal(row: Mapping[Any, Any]) -> Proposal:
    return Proposal(*(str(row[c] or "") for c in (m.REVIEWER, m.ROLE, s.INDUSTRY_ID, s.CHAIN_ID, m.NOTE, m.AT)))


def _proposals(conn: Connection, ids: Sequence[str]) -> dict[str, dict[tuple[str, str], Proposal]]:
    found: dict[str, dict[tuple[str, str], Proposal]] = {}
    for row in m.select_in(conn, m.CORRECTIONS, m.DEMAND_REF, ids):
        found.setdefault(row[m.DEMAND_REF], {})[(row[m.REVIEWER], row[m.ROLE])] = _proposal(row)
    return found


def _source(row: Correction) -> str:
    where = f"{row.source_file} 第 {row.source_row} 行" if row.source_file else "人工更正"
    return where + (f"；备注：{row.note}" if row.note else "")


class _Demand:
    """One demand's corrections in this import: proposals recorded, then the decision applied (or disputed)."""

    def __init__(
        self,
        conn: Connection,
        demand: dict[str, Any],
        proposals: dict[tuple[str, str], Proposal],
        human: dict[str, Any] | None,
        stamp: str,
    ) -> None:
        self.conn, self.demand, self.proposals, self.human, self.stamp = conn, demand, dict(proposals), human, stamp
        self.demand_id: str = demand[s.DEMAND_ID]
        self.report = CorrectionReport()

    def apply(self, batch: list[Correction], taxonomy: Taxonomy) -> CorrectionReport:
        fresh = [row for row in self._unique(batch) if self._record(row)]
        if not fresh:
            return self.report
        decision = decide(list(self.proposals.values()))
        if decision is None:
            self._dispute(fresh)
            return self.report
        agreeing = [r for r in fresh if same_mapping(r, decision)]
        self.report.skipped += len(fresh) - len(agreeing)  # overruled by an arbiter in this same import
        if self.human is not None and same_mapping(decision, _proposal_of(self.human)):
            self.report.skipped += len(agreeing)  # agrees with the current human decision: nothing to record
            self._save_human(decision, taxonomy)
            return self.report
        changed = [f for f in _DECIDED if self.demand.get(f) != getattr(decision, f)]
        self._save_human(decision, taxonomy)
        actor = "、".join(dict.fromkeys(r.reviewer for r in agreeing)) or decision.reviewer
        evidence = _source(agreeing[0] if agreeing else fresh[0])
        for f in changed:
            self._event(CORRECTION_KIND, actor, f, self.demand.get(f), getattr(decision, f), evidence)
        if not changed:
            chain = self.demand.get(s.CHAIN_ID)
            self._event(CONFIRMATION_KIND, actor, s.CHAIN_ID, chain, chain, evidence)
        self.report.applied += len(agreeing)
        self.report.changed += [self.demand_id] if changed else []
        return self.report

    def _unique(self, batch: list[Correction]) -> list[Correction]:
        """One row per reviewer (per demand for arbiters); one person saying two different things is reported."""
        by_key: dict[tuple[str, str], list[Correction]] = {}
        for row in batch:
            by_key.setdefault(("" if row.arbiter else row.reviewer, row.role), []).append(row)
        kept = []
        for rows in by_key.values():
            if all(same_mapping(r, rows[0]) for r in rows):
                kept.append(rows[0])
                self.report.skipped += len(rows) - 1
                continue
            where = "、".join(f"{r.source_file} 第 {r.source_row} 行" for r in rows)
            who = "仲裁" if rows[0].arbiter else f"审核人 {rows[0].reviewer} "
            reason = f"{who}对需求 {self.demand_id} 给出了不同的结论（{where}），均未导入；每条需求只保留一行"
            self.report.problems += [r.problem(s.CHAIN_ID, reason) for r in rows]
        return kept

    def _record(self, row: Correction) -> bool:
        """Store the reviewer's proposal; False when identical to their current one (skipped)."""
        key = (row.reviewer, row.role)
        old = self.proposals.get(key)
        if old is not None and same_mapping(old, row):
            self.report.skipped += 1
            return False
        values: dict[str, Any] = {s.INDUSTRY_ID: row.industry_id, s.CHAIN_ID: row.chain_id, m.NOTE: row.note}
        values[m.AT] = self.stamp
        values |= {s.SOURCE_FILE: row.source_file, s.SOURCE_ROW: row.source_row}
        t = m.CORRECTIONS
        if old is None:
            keys = {m.DEMAND_REF: self.demand_id, m.REVIEWER: row.reviewer, m.ROLE: row.role}
            self.conn.execute(sa.insert(t).values(keys | values))
        else:
            where = sa.and_(t.c.demand_id == self.demand_id, t.c.reviewer == row.reviewer, t.c.role == row.role)
            self.conn.execute(sa.update(t).where(where).values(values))
        self.proposals[key] = Proposal(row.reviewer, row.role, row.industry_id, row.chain_id, row.note, self.stamp)
        return True

    def _dispute(self, fresh: list[Correction]) -> None:
        kept = f"{self.demand.get(s.INDUSTRY_ID)}/{self.demand.get(s.CHAIN_ID)}"
        for row in fresh:
            why = f"与其他审核人的结论不一致，待仲裁（提议 {row.industry_id}/{row.chain_id}，暂保持 {kept}）；"
            self._event(
                CONFLICT_KIND, row.reviewer, s.CHAIN_ID, self.demand.get(s.CHAIN_ID), row.chain_id, why + _source(row)
            )
        self.report.conflicts += len(fresh)
        self.report.disputed.append(self.demand_id)

    def _save_human(self, decision: Proposal, taxonomy: Taxonomy) -> None:
        """Upsert the human decision and show it on the demand (ids, evidence, no review needed)."""
        row = {m.DEMAND_REF: self.demand_id, m.REVIEWER: decision.reviewer, m.NOTE: decision.note, m.AT: decision.at}
        row |= {f: getattr(decision, f) for f in _DECIDED}
        row |= {k: v for k, v in human_values(row, taxonomy).items() if k in (s.INDUSTRY, s.CHAIN)}
        t = m.HUMAN_MAPPING
        if self.human is None:
            self.conn.execute(sa.insert(t).values(row))
        else:
            self.conn.execute(sa.update(t).where(t.c.demand_id == self.demand_id).values(row))
        self.human = row
        values = human_values(row)
        shown = {c: values[c] for c in (s.INDUSTRY_ID, s.CHAIN_ID, s.EVIDENCE)}
        shown |= {s.NEEDS_REVIEW: 0, s.REVIEW_REASON: "", m.UPDATED_AT: self.stamp}
        self.conn.execute(sa.update(m.DEMANDS).where(m.DEMANDS.c.demand_id == self.demand_id).values(shown))

    def _event(self, kind: str, actor: str, fld: str, old: Any, new: Any, evidence: str) -> None:
        row = {m.AT: self.stamp, m.RUN_ID: None, s.CALL_ID: self.demand.get(s.CALL_ID), m.DEMAND_REF: self.demand_id}
        row |= {m.KIND: kind, m.ACTOR: actor, m.FIELD: fld, m.OLD_VALUE: old, m.NEW_VALUE: new, s.EVIDENCE: evidence}
        self.conn.execute(sa.insert(m.EVENTS).values(row))
        self.report.events += 1


def _proposal_of(human: Mapping[str, Any]) -> Proposal:
    return Proposal(str(human.get(m.REVIEWER) or ""), "", human[s.INDUSTRY_ID], human[s.CHAIN_ID], "", "")
