"""Crash safety of the library: one run at a time, everything a run decides saved in one transaction, and runs a
crash left "running" closed as interrupted by the next run.

- One run at a time: an exclusive lock the operating system or the database releases when the process dies
  (a `flock` on a file beside an SQLite database; a session advisory lock on PostgreSQL). A second run on the same
  library is refused with a message naming the holder; it never interleaves with the first.
- One transaction: the call's demands, the earlier demands whose group or cluster changed, and the merge events
  are written together (`save_run`), so a SIGKILL leaves either all of it or none.
- After a crash: the runs still marked "running" (no live process can hold them once we hold the lock) are marked
  "failed" with the reason "interrupted"; re-running the call completes it, idempotently.

`crashpoint(name)` is the fault-injection hook the crash tests use (environment variable NINGLIANG_CRASH_AT).
"""

import fcntl
import json
import os
import signal
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from . import migrations as m
from . import schema as s
from .corrections import keep_human_decisions
from .demand_index import IndexEntries
from .errors import NingliangError
from .index_store import save_index

_ADVISORY_KEY = 0x6E696E67  # "ning": the PostgreSQL advisory lock every ningliang run takes


class LibraryBusyError(NingliangError):
    """Another run holds the library."""


def crashpoint(name: str) -> None:
    """Die here, like a power cut, when NINGLIANG_CRASH_AT names this point (crash tests only)."""
    if os.environ.get("NINGLIANG_CRASH_AT") == name:
        os.kill(os.getpid(), signal.SIGKILL)


class RunSafetyMixin:
    """Library methods `exclusive_run`, `close_interrupted_runs` and `save_run` (the Library provides `_ready`)."""

    url: str

    def _ready(self) -> Engine:  # pragma: no cover - pipelines.store.Library overrides it
        raise NotImplementedError

    @contextmanager
    def exclusive_run(self, what: str) -> Iterator[None]:
        """Hold the library for one run; LibraryBusyError (Chinese, naming the holder) when another run holds it."""
        url = sa.make_url(self.url)
        holder = {"pid": os.getpid(), "what": what, "since": datetime.now(UTC).isoformat(timespec="seconds")}
        if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
            with _file_lock(Path(str(url.database)).with_suffix(".lock"), holder):
                yield
        elif url.get_backend_name() == "postgresql":
            with self._ready().connect() as conn:
                if not conn.execute(sa.select(sa.func.pg_try_advisory_lock(_ADVISORY_KEY))).scalar():
                    raise LibraryBusyError(
                        f"需求库 {url.render_as_string(hide_password=True)} 正被另一个运行使用，请稍后再试"
                    )
                try:
                    yield
                finally:
                    conn.execute(sa.select(sa.func.pg_advisory_unlock(_ADVISORY_KEY)))
        else:
            yield

    def close_interrupted_runs(self) -> list[str]:
        """Mark the runs left "running" as failed (interrupted); call only while holding `exclusive_run`."""
        runs = m.RUNS
        note = json.dumps({"error": "interrupted: the process ended before the run finished"}, ensure_ascii=False)
        with self._ready().begin() as conn:
            stale = list(conn.execute(sa.select(runs.c.run_id).where(runs.c.status == "running")).scalars())
            if stale:
                values = {m.STATUS: "failed", m.FINISHED_AT: m.now_utc(), m.MANIFEST_JSON: note}
                conn.execute(sa.update(runs).where(runs.c.run_id.in_(stale)).values(values))
        return stale

    def save_run(
        self,
        run_id: str,
        demands: pd.DataFrame,
        moved: pd.DataFrame,
        quarantine: pd.DataFrame,
        events: Sequence[dict[str, Any]],
        scores: pd.DataFrame | None = None,
        index: IndexEntries | None = None,
    ) -> dict[str, int]:
        """`save_call` of the call's demands and of the earlier demands whose ids moved, the merge events, the
        entry scores and the demands' search-index entries, in ONE transaction. Returns save_call's counts plus
        earlier_demands_regrouped, group_events (merge proposals), score_events and indexed."""
        stamp = m.now_utc()
        with self._ready().begin() as conn:
            if conn.execute(sa.select(m.RUNS.c.run_id).where(m.RUNS.c.run_id == run_id)).first() is None:
                raise ValueError(f"save_run: unknown run {run_id!r}; call start_run first")
            counts = _save_frame(conn, run_id, stamp, demands, quarantine)
            if len(moved):
                counts["events"] += _save_frame(conn, run_id, stamp, moved, quarantine.iloc[0:0])["events"]
            call_id = str(demands[s.CALL_ID].iloc[0]) if len(demands) else None
            for event in events:
                row = {m.AT: stamp, m.RUN_ID: run_id, s.CALL_ID: call_id, m.DEMAND_REF: None, m.ACTOR: "pipeline"}
                conn.execute(sa.insert(m.EVENTS).values(row | dict(event)))
            scored = _save_scores(conn, run_id, stamp, scores) if scores is not None else 0
            indexed = save_index(conn, index) if index is not None else 0
            crashpoint("before-commit")
        counts |= {"earlier_demands_regrouped": len(moved), "group_events": len(events), "score_events": scored}
        return counts | {"indexed": indexed}


SCORE_KIND, SCORE_FIELD = "score", "entry_score"


def _save_scores(conn: Connection, run_id: str, stamp: str, scores: pd.DataFrame) -> int:
    """A "score" event per demand whose entry's score changed since the last one recorded (re-runs add none).

    `scores`: demand_id, call_id, entry_id, score_total, score_total_evidence (one row per member demand)."""
    e = m.EVENTS
    ids = scores[s.DEMAND_ID].astype(str).tolist()
    last: dict[str, str] = {}
    for chunk in (ids[i : i + 500] for i in range(0, len(ids), 500)):
        query = sa.select(e.c.demand_id, e.c.new_value).where(e.c.kind == SCORE_KIND, e.c.demand_id.in_(chunk))
        for demand_id, value in conn.execute(query.order_by(e.c.event_id)):
            last[demand_id] = value
    rows = []
    for r in scores.to_dict("records"):
        value = f"{r[s.ENTRY_ID]}：{float(r['score_total']):g}"
        if last.get(str(r[s.DEMAND_ID])) != value:
            rows.append(
                {m.AT: stamp, m.RUN_ID: run_id, s.CALL_ID: r[s.CALL_ID], m.DEMAND_REF: r[s.DEMAND_ID]}
                | {m.KIND: SCORE_KIND, m.ACTOR: "pipeline", m.FIELD: SCORE_FIELD}
                | {m.OLD_VALUE: last.get(str(r[s.DEMAND_ID])), m.NEW_VALUE: value}
                | {s.EVIDENCE: str(r.get("score_total_evidence") or "")}
            )
    if rows:
        conn.execute(sa.insert(e), rows)
    return len(rows)


def _save_frame(
    conn: Connection, run_id: str, stamp: str, frame: pd.DataFrame, quarantine: pd.DataFrame
) -> dict[str, int]:
    """What `Library.save_call` does, inside the caller's transaction."""
    from .store import _demand_records, _ensure_calls, _existing_demands, _plan, _save_quarantine, _write_plan

    records, present = _demand_records(frame)
    q_rows = m.quarantine_values(quarantine)
    _ensure_calls(conn, [r[s.CALL_ID] for r in records] + [r[s.CALL_ID] for r in q_rows], stamp)
    keep_human_decisions(conn, records, present)
    plan = _plan(records, present, _existing_demands(conn, [r[s.DEMAND_ID] for r in records]), run_id, stamp)
    _write_plan(conn, plan, present)
    _save_quarantine(conn, q_rows, run_id)
    counts = (len(plan.inserts), len(plan.updates), plan.unchanged, len(plan.events), len(q_rows))
    return dict(zip(("inserted", "updated", "unchanged", "events", "quarantined"), counts, strict=True))


@contextmanager
def _file_lock(path: Path, holder: dict[str, Any]) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            who = handle.read().strip() or "未知进程"
            raise LibraryBusyError(
                f"需求库正被另一个运行使用（{who}），同一需求库不能同时运行两个批次，请稍后再试"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps(holder, ensure_ascii=False))
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            fcntl.flock(handle, fcntl.LOCK_UN)
