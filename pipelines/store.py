"""The demand library: every call's demands, runs, quarantined rows and decision events in one database.

SQLAlchemy Core over any database URL (`sqlite:///path`, `postgresql+psycopg://...`); the schema and its
versioned migrations live in `pipelines.migrations`. Values are stored as: NaN/None -> NULL, bools -> 0/1,
timestamps -> ISO-8601 UTC text, JSON -> text.
"""

import json
import secrets
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from . import migrations as m
from . import schema as s
from .corrections import keep_human_decisions
from .decision_store import DecisionsMixin
from .erasure import ErasureMixin
from .errors import ConfigError
from .expert_store import ExpertScoresMixin
from .index_store import IndexMixin
from .model_store import ModelsMixin
from .review_store import CorrectionsMixin
from .run_safety import RunSafetyMixin

DECISION_FIELDS = (s.INDUSTRY_ID, s.CHAIN_ID, s.DUPLICATE_GROUP, s.CLUSTER_ID, s.CLUSTER_GROUP)  # changes: events
EVENT_KIND = {f: "mapping" if f in (s.INDUSTRY_ID, s.CHAIN_ID) else "grouping" for f in DECISION_FIELDS}
# per decision field, the frame column whose text explains it (stored as the event's evidence)
_EXPLAINED_BY = (s.EVIDENCE, s.EVIDENCE, s.DUPLICATE_REASON, s.CLUSTER_LABEL, s.CLUSTER_GROUP_LABEL)
EVENT_EVIDENCE = dict(zip(DECISION_FIELDS, _EXPLAINED_BY, strict=True))
PIPELINE_ACTOR = "pipeline"
FINISHED_STATUSES = ("succeeded", "failed")


@dataclass
class _Plan:
    """What save_call writes for the demands frame."""

    inserts: list[dict[str, Any]] = field(default_factory=list)
    updates: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    unchanged: int = 0


class Library(
    CorrectionsMixin, ModelsMixin, DecisionsMixin, ExpertScoresMixin, ErasureMixin, RunSafetyMixin, IndexMixin
):
    """The demand library at a database URL: `Library.open(url)`, `close()` (or `with`); review loop: the mixin."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._engine: Engine | None = None
        self._migrated = False

    @classmethod
    def open(cls, url: str) -> "Library":
        """Connect, create the schema or migrate it; ConfigError (Chinese) for a bad URL or unreachable db."""
        library = cls(url)
        library.migrate()
        return library

    def __enter__(self) -> "Library":
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()

    # --- connection and schema ----------------------------------------------------------------------
    def _connect(self) -> Engine:
        if self._engine is None:
            self._engine = m.create_engine(self.url)
        return self._engine

    def _ready(self) -> Engine:
        engine = self._connect()
        if not self._migrated:
            self.migrate()
        return engine

    @contextmanager
    def _reachable(self) -> Iterator[None]:
        try:
            yield
        except sa.exc.DBAPIError as exc:
            shown = sa.make_url(self.url).render_as_string(hide_password=True)
            raise ConfigError(
                f"无法打开需求库数据库 {shown}：{exc.orig}（请检查地址、文件权限或数据库服务是否可用）"
            ) from exc

    def migrate(self) -> list[int]:
        """Apply the missing migrations in order, each in its own transaction; return the versions applied."""
        with self._reachable():
            applied = m.migrate(self._connect())
        self._migrated = True
        return applied

    def schema_version(self) -> int:
        """The highest migration version recorded in the database (0 for an empty database)."""
        with self._reachable():
            versions = m.applied_versions(self._connect())
        return versions[-1] if versions else 0

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
        self._engine = None
        self._migrated = False

    # --- runs ---------------------------------------------------------------------------------------
    def start_run(self, call_id: str, config_hash: str, taxonomy_version: str, encoder: str) -> str:
        """Record a running run of `call_id` (creating the call when new); return its id "R<utc>-<hex>"."""
        stamp = m.now_utc()
        run_id = f"R{datetime.now(UTC):%Y%m%dT%H%M%S%fZ}-{secrets.token_hex(3)}"
        row = {m.RUN_ID: run_id, s.CALL_ID: call_id, m.STARTED_AT: stamp, m.STATUS: "running"}
        row |= {m.CONFIG_HASH: config_hash, m.TAXONOMY_VERSION: taxonomy_version, m.ENCODER: encoder}
        with self._ready().begin() as conn:
            _ensure_calls(conn, [call_id], stamp)
            conn.execute(sa.insert(m.RUNS).values(row))
        return run_id

    def finish_run(self, run_id: str, status: str, manifest: dict[str, Any]) -> None:
        """Mark the run succeeded/failed, with its manifest stored as JSON text."""
        if status not in FINISHED_STATUSES:
            raise ValueError(f"finish_run: status must be one of {FINISHED_STATUSES}, not {status!r}")
        text = json.dumps(manifest, ensure_ascii=False, sort_keys=True, default=str)
        values = {m.FINISHED_AT: m.now_utc(), m.STATUS: status, m.MANIFEST_JSON: text}
        with self._ready().begin() as conn:
            done = conn.execute(sa.update(m.RUNS).where(m.RUNS.c.run_id == run_id).values(values))
            if done.rowcount != 1:
                raise ValueError(f"finish_run: unknown run {run_id!r}")

    # --- saving a call ------------------------------------------------------------------------------
    def save_call(self, run_id: str, demands: pd.DataFrame, quarantine: pd.DataFrame) -> dict[str, int]:
        """Upsert the demands and quarantined rows of one run, in ONE transaction; return the counts.

        `demands` needs demand_id and call_id; other library columns are optional (NULL on insert, left as
        stored on update); duplicate_reason is read as the grouping evidence. A new demand gets one event per
        decision field in the frame; an existing demand one event per decision field whose value changed;
        an unchanged demand nothing. `quarantine` has the QUARANTINE_EXPORT_COLUMNS (may be empty).
        Human decisions win: a demand with one keeps it (see corrections.keep_human_decisions).
        Counts: inserted / updated / unchanged demands, events written, quarantined rows in this save.
        """
        records, present = _demand_records(demands)
        q_rows = m.quarantine_values(quarantine)
        stamp = m.now_utc()
        with self._ready().begin() as conn:
            if conn.execute(sa.select(m.RUNS.c.run_id).where(m.RUNS.c.run_id == run_id)).first() is None:
                raise ValueError(f"save_call: unknown run {run_id!r}; call start_run first")
            _ensure_calls(conn, [r[s.CALL_ID] for r in records] + [r[s.CALL_ID] for r in q_rows], stamp)
            keep_human_decisions(conn, records, present)
            existing = _existing_demands(conn, [r[s.DEMAND_ID] for r in records])
            plan = _plan(records, present, existing, run_id, stamp)
            _write_plan(conn, plan, present)
            _save_quarantine(conn, q_rows, run_id)
        counts = (len(plan.inserts), len(plan.updates), plan.unchanged, len(plan.events), len(q_rows))
        return dict(zip(("inserted", "updated", "unchanged", "events", "quarantined"), counts, strict=True))

    def record_event(
        self,
        *,
        run_id: str | None,
        call_id: str | None,
        demand_id: str | None,
        kind: str,
        actor: str,
        field: str = "",
        old_value: str = "",
        new_value: str = "",
        evidence: str = "",
    ) -> None:
        """Append one decision (automated or human: correction, merge, erasure...) to the events table."""
        if not kind or not actor:
            raise ValueError("record_event: kind and actor are required")
        row = {m.AT: m.now_utc(), m.RUN_ID: run_id, s.CALL_ID: call_id, m.DEMAND_REF: demand_id}
        row |= {m.KIND: kind, m.ACTOR: actor, m.FIELD: field, m.OLD_VALUE: old_value, m.NEW_VALUE: new_value}
        row[s.EVIDENCE] = evidence
        with self._ready().begin() as conn:
            conn.execute(sa.insert(m.EVENTS).values(row))

    # --- reading ------------------------------------------------------------------------------------
    def _read(self, table: sa.Table, order: tuple[str, ...], **where: str | None) -> pd.DataFrame:
        stmt = sa.select(table)
        for column, value in where.items():
            stmt = stmt if value is None else stmt.where(table.c[column] == value)
        with self._ready().connect() as conn:
            result = conn.execute(stmt.order_by(*m.code_point_order(conn, *(table.c[c] for c in order))))
            return pd.DataFrame(result.fetchall(), columns=list(result.keys()))

    def demands(self, call_id: str | None = None) -> pd.DataFrame:
        """Stored demands (all library columns), by call, source file and row."""
        return self._read(m.DEMANDS, (s.CALL_ID, s.SOURCE_FILE, s.SOURCE_ROW, s.DEMAND_ID), call_id=call_id)

    def events(self, demand_id: str | None = None, kind: str | None = None) -> pd.DataFrame:
        """Recorded events in the order they were written."""
        return self._read(m.EVENTS, (m.EVENT_ID,), demand_id=demand_id, kind=kind)

    def runs(self, call_id: str | None = None) -> pd.DataFrame:
        """Recorded runs, oldest first; manifest_json is the manifest as JSON text."""
        return self._read(m.RUNS, (m.STARTED_AT, m.RUN_ID), call_id=call_id)

    def quarantine(self, call_id: str | None = None) -> pd.DataFrame:
        """Quarantined rows (column_name holds the export's "column"), by call, file, row and column."""
        return self._read(m.QUARANTINE, m.QUARANTINE_KEY, call_id=call_id)


# --- save_call helpers ------------------------------------------------------------------------------------
def _demand_records(frame: pd.DataFrame) -> tuple[list[dict[str, Any]], list[str]]:
    """Frame rows as dicts of stored values (plus the evidence columns); ValueError for missing/duplicate ids."""
    s.require_columns(frame, [s.DEMAND_ID, s.CALL_ID], "store.save_call")
    if frame[s.DEMAND_ID].isna().any() or frame[s.CALL_ID].isna().any():
        raise ValueError("store.save_call: demand_id and call_id must not be empty")
    if frame[s.DEMAND_ID].duplicated().any():
        dupes = sorted(frame.loc[frame[s.DEMAND_ID].duplicated(), s.DEMAND_ID].astype(str).unique())
        raise ValueError(f"store.save_call: duplicate demand ids {dupes[:5]}")
    present = [c for c in m.DEMAND_DATA_COLUMNS if c in frame.columns]
    explain = sorted({c for c in EVENT_EVIDENCE.values() if c in frame.columns})
    records = []
    for raw in frame.to_dict("records"):
        row = m.demand_values(raw, present)
        row["_evidence"] = {c: m.db_value(raw.get(c)) or "" for c in explain}
        records.append(row)
    return records, present


def _ensure_calls(conn: Connection, call_ids: Iterable[str], stamp: str) -> None:
    wanted = set(call_ids)
    known = {row[s.CALL_ID] for row in m.select_in(conn, m.CALLS, s.CALL_ID, wanted)}
    new = [{s.CALL_ID: c, m.CREATED_AT: stamp} for c in sorted(wanted - known)]
    if new:
        conn.execute(sa.insert(m.CALLS), new)


def _existing_demands(conn: Connection, ids: list[str]) -> dict[str, dict[str, Any]]:
    rows = m.select_in(conn, m.DEMANDS, s.DEMAND_ID, ids)
    return {row[s.DEMAND_ID]: m.demand_values(row, m.DEMAND_DATA_COLUMNS) for row in rows}


def _plan(
    records: list[dict[str, Any]],
    present: list[str],
    existing: dict[str, dict[str, Any]],
    run_id: str,
    stamp: str,
) -> _Plan:
    plan = _Plan()
    decided = [f for f in DECISION_FIELDS if f in present]
    for row in records:
        values = {c: row[c] for c in present}
        old = existing.get(row[s.DEMAND_ID])
        if old is None:
            blank = dict.fromkeys(m.DEMAND_DATA_COLUMNS)
            plan.inserts.append(blank | values | {m.FIRST_RUN_ID: run_id, m.LAST_RUN_ID: run_id, m.UPDATED_AT: stamp})
            changed = decided
        elif all(m.same_value(old[c], values[c]) for c in present):
            plan.unchanged += 1
            continue
        else:
            plan.updates.append({f"v_{c}": v for c, v in values.items()} | {"v_run": run_id, "v_at": stamp})
            changed = [f for f in decided if not m.same_value(old[f], values[f])]
        for f in changed:
            event = {m.AT: stamp, m.RUN_ID: run_id, s.CALL_ID: row[s.CALL_ID], m.DEMAND_REF: row[s.DEMAND_ID]}
            event |= {m.KIND: EVENT_KIND[f], m.ACTOR: PIPELINE_ACTOR, m.FIELD: f}
            before = None if old is None or old[f] is None else str(old[f])
            event |= {m.OLD_VALUE: before, m.NEW_VALUE: None if values[f] is None else str(values[f])}
            event[s.EVIDENCE] = row["_evidence"].get(EVENT_EVIDENCE[f], "")
            plan.events.append(event)
    return plan


def _write_plan(conn: Connection, plan: _Plan, present: list[str]) -> None:
    if plan.inserts:
        conn.execute(sa.insert(m.DEMANDS), plan.inserts)
    if plan.updates:
        values: dict[str, Any] = {c: sa.bindparam(f"v_{c}") for c in present if c != s.DEMAND_ID}
        values |= {m.LAST_RUN_ID: sa.bindparam("v_run"), m.UPDATED_AT: sa.bindparam("v_at")}
        key = m.DEMANDS.c.demand_id == sa.bindparam(f"v_{s.DEMAND_ID}")
        conn.execute(sa.update(m.DEMANDS).where(key).values(values), plan.updates)
    if plan.events:
        conn.execute(sa.insert(m.EVENTS), plan.events)


def _save_quarantine(conn: Connection, rows: list[dict[str, Any]], run_id: str) -> None:
    t = m.QUARANTINE
    olds = m.select_in(conn, t, s.CALL_ID, [r[s.CALL_ID] for r in rows])
    stored = {tuple(old[k] for k in m.QUARANTINE_KEY): (old[m.REASON], old[m.RAW]) for old in olds}
    new, changed = [], []
    for row in rows:
        key = tuple(row[k] for k in m.QUARANTINE_KEY)
        if key not in stored:
            new.append(row | {m.RUN_ID: run_id})
        elif stored[key] != (row[m.REASON], row[m.RAW]):
            changed.append(
                {f"k_{k}": row[k] for k in m.QUARANTINE_KEY} | {"v_reason": row[m.REASON], "v_raw": row[m.RAW]}
            )
    if new:
        conn.execute(sa.insert(t), new)
    if changed:
        where = sa.and_(*(t.c[k] == sa.bindparam(f"k_{k}") for k in m.QUARANTINE_KEY))
        values = {m.REASON: sa.bindparam("v_reason"), m.RAW: sa.bindparam("v_raw"), m.RUN_ID: run_id}
        conn.execute(sa.update(t).where(where).values(values), changed)
