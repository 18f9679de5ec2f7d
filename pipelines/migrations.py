"""Demand library schema: table definitions, versioned migrations and engine creation.

Portable SQL only (SQLite now, PostgreSQL later): TEXT / INTEGER / REAL columns, JSON stored as TEXT,
timestamps as ISO-8601 UTC strings. `migrate` applies the missing entries of `MIGRATIONS` in order, each in
its own transaction, and records each in `schema_migrations`. A migration never changes once released: a new
schema change is a new migration appended to `MIGRATIONS`, mirrored in the current table definitions below.
"""

import json
import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection, Engine, RowMapping

from . import schema as s
from .errors import ConfigError

# --- library-only column names (frame columns come from pipelines.schema) ----------------------------
CREATED_AT = "created_at"  # calls
RUN_ID, STARTED_AT, FINISHED_AT, STATUS = "run_id", "started_at", "finished_at", "status"  # runs
CONFIG_HASH, TAXONOMY_VERSION, ENCODER, MANIFEST_JSON = "config_hash", "taxonomy_version", "encoder", "manifest_json"
FIRST_RUN_ID = "first_run_id"  # demands: the run that inserted the demand
LAST_RUN_ID = "last_run_id"  # demands: the last run that changed it
UPDATED_AT = "updated_at"
COLUMN_NAME, REASON, RAW = "column_name", "reason", "raw"  # quarantine
QUARANTINE_COLUMN = "column"  # QUARANTINE_EXPORT_COLUMNS' name for column_name
QUARANTINE_KEY = (s.CALL_ID, s.SOURCE_FILE, s.SOURCE_ROW, COLUMN_NAME)  # unique: a re-run does not duplicate
EVENT_ID, AT, KIND, ACTOR, FIELD = "event_id", "at", "kind", "actor", "field"  # events
OLD_VALUE, NEW_VALUE = "old_value", "new_value"
DEMAND_REF = s.DEMAND_ID  # events.demand_id has no foreign key, so events outlive an erased demand
REVIEWER, ROLE, NOTE = "reviewer", "role", "note"  # corrections (v2): one proposal per demand, reviewer and role
MODEL_VERSION, N_DECISIONS, PAYLOAD = "model_version", "n_decisions", "payload"  # mapper_models (v4)

# demand columns taken from the pipeline frame, with their SQL types (everything else is TEXT)
DEMAND_NUMERIC: dict[str, type[sa.types.TypeEngine[Any]]] = {
    s.SOURCE_ROW: sa.Integer,
    s.FUNDING: sa.Float,
    s.CONFIDENCE: sa.Float,
    s.INDUSTRY_CONFIDENCE: sa.Float,
    s.NEEDS_REVIEW: sa.Integer,
    s.DUPLICATE_SCORE: sa.Float,
}
_V1_DEMAND_COLUMNS: tuple[str, ...] = (
    s.DEMAND_ID, s.CALL_ID, s.EXTERNAL_ID, s.SOURCE_FILE, s.SOURCE_ROW, s.TITLE, s.TEXT, s.ENTERPRISE,
    s.CREDIT_CODE, s.REGION, s.CONTACT, s.PHONE, s.FUNDING, s.COOP_MODE, s.DEADLINE, s.FLAGS, s.CONTENT_HASH,
    s.INDUSTRY_ID, s.CHAIN_ID, s.CONFIDENCE, s.INDUSTRY_CONFIDENCE, s.EVIDENCE, s.ALTERNATIVES,
    s.SECONDARY_CHAIN_ID, s.NEEDS_REVIEW, s.REVIEW_REASON, s.DUPLICATE_GROUP, s.DUPLICATE_KIND,
    s.DUPLICATE_SCORE, s.DUPLICATE_OF, s.CLUSTER_ID, s.CLUSTER_LABEL,
)  # fmt: skip
_V3_DEMAND_COLUMNS: tuple[str, ...] = (s.CLUSTER_GROUP, s.CLUSTER_GROUP_LABEL)  # added by migration 3 (TEXT)
# every demand column taken from the pipeline frame (v1 + columns added by later migrations)
DEMAND_DATA_COLUMNS = _V1_DEMAND_COLUMNS + _V3_DEMAND_COLUMNS

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_name)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def now_utc() -> str:
    """The current time as an ISO-8601 UTC string (microseconds, "+00:00" suffix)."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


# --- stored representation of frame values ----------------------------------------------------------
CHUNK = 500  # ids per IN (...) query


def db_value(value: Any, kind: Any = sa.Text) -> Any:
    """One cell as stored: None for NaN/NA/None, 0/1 for bools, then int/float/str (without NUL) by the SQL type."""
    if value is None or (pd.api.types.is_scalar(value) and pd.isna(value)):
        return None
    if isinstance(value, bool | np.bool_):
        value = int(value)
    if kind is sa.Integer:
        return int(value)
    if kind is sa.Float:
        return float(value)
    if isinstance(value, dict | list | tuple):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value).replace("\x00", "")  # NUL: PostgreSQL text cannot hold it; the same stored on every backend


def demand_values(record: Mapping[Any, Any], columns: Iterable[str]) -> dict[str, Any]:
    """The stored values of one demand record (a frame row or a database row) for `columns`."""
    return {c: db_value(record.get(c), DEMAND_NUMERIC.get(c, sa.Text)) for c in columns}


def same_value(old: Any, new: Any) -> bool:
    """Stored values equal (floats up to rounding in the database round trip)."""
    if isinstance(old, float) and isinstance(new, float):
        return math.isclose(old, new, rel_tol=1e-12, abs_tol=1e-12)
    return bool(old == new)


def select_in(conn: Connection, table: sa.Table, column: str, values: Iterable[Any]) -> Iterator[RowMapping]:
    """Rows of `table` whose `column` is one of `values`, queried in chunks of CHUNK (portable IN lists)."""
    wanted = sorted(set(values))
    for start in range(0, len(wanted), CHUNK):
        chunk = wanted[start : start + CHUNK]
        yield from conn.execute(sa.select(table).where(table.c[column].in_(chunk))).mappings()


def code_point_order(conn: Connection, *columns: sa.ColumnElement[Any]) -> list[sa.ColumnElement[Any]]:
    """ORDER BY terms sorting text by code point on every backend, as SQLite does: PostgreSQL would sort by the
    database's locale (a Chinese one by pinyin, case-insensitively), so its text columns are ordered COLLATE "C"."""
    if conn.dialect.name != "postgresql":
        return list(columns)
    return [c.collate("C") if isinstance(c.type, sa.String) else c for c in columns]


def quarantine_values(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Quarantine frame rows as stored, one per key (the last wins); key parts never NULL ("" / row 0)."""
    if frame.empty:
        return []
    s.require_columns(frame, [s.CALL_ID], "store.save_call (quarantine)")
    rows: dict[tuple[Any, ...], dict[str, Any]] = {}
    for raw in frame.to_dict("records"):
        row = {
            s.CALL_ID: db_value(raw.get(s.CALL_ID)) or "",
            s.SOURCE_FILE: db_value(raw.get(s.SOURCE_FILE)) or "",
            s.SOURCE_ROW: db_value(raw.get(s.SOURCE_ROW), sa.Integer) or 0,
            COLUMN_NAME: db_value(raw.get(QUARANTINE_COLUMN, raw.get(COLUMN_NAME))) or "",
            REASON: db_value(raw.get(REASON)),
            RAW: db_value(raw.get(RAW)),
        }
        rows[tuple(row[k] for k in QUARANTINE_KEY)] = row
    return list(rows.values())


def _migrations_table(md: sa.MetaData) -> sa.Table:
    """schema_migrations: one row per applied migration (never itself migrated)."""
    return sa.Table(
        "schema_migrations",
        md,
        sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("name", sa.Text),
        sa.Column("applied_at", sa.Text),
    )


def _define_v1(md: sa.MetaData) -> None:
    """Version 1 of the library: calls, runs, demands, quarantine, events."""
    sa.Table("calls", md, sa.Column(s.CALL_ID, sa.Text, primary_key=True), sa.Column(CREATED_AT, sa.Text))
    sa.Table(
        "runs",
        md,
        sa.Column(RUN_ID, sa.Text, primary_key=True),
        sa.Column(s.CALL_ID, sa.Text, sa.ForeignKey("calls.call_id"), nullable=False, index=True),
        *(sa.Column(c, sa.Text) for c in (STARTED_AT, FINISHED_AT, STATUS, CONFIG_HASH, TAXONOMY_VERSION)),
        sa.Column(ENCODER, sa.Text),
        sa.Column(MANIFEST_JSON, sa.Text),
    )
    indexed = {s.CALL_ID, s.CHAIN_ID, s.DUPLICATE_GROUP, s.CLUSTER_ID, s.CONTENT_HASH}
    data = [
        sa.Column(c, DEMAND_NUMERIC.get(c, sa.Text), index=c in indexed)
        for c in _V1_DEMAND_COLUMNS
        if c not in (s.DEMAND_ID, s.CALL_ID)
    ]
    sa.Table(
        "demands",
        md,
        sa.Column(s.DEMAND_ID, sa.Text, primary_key=True),
        sa.Column(s.CALL_ID, sa.Text, sa.ForeignKey("calls.call_id"), nullable=False, index=True),
        *data,
        sa.Column(FIRST_RUN_ID, sa.Text, sa.ForeignKey("runs.run_id")),
        sa.Column(LAST_RUN_ID, sa.Text, sa.ForeignKey("runs.run_id")),
        sa.Column(UPDATED_AT, sa.Text),
    )
    sa.Table(
        "quarantine",
        md,
        sa.Column(s.CALL_ID, sa.Text, sa.ForeignKey("calls.call_id"), nullable=False),
        sa.Column(s.SOURCE_FILE, sa.Text, nullable=False),
        sa.Column(s.SOURCE_ROW, sa.Integer, nullable=False),
        sa.Column(COLUMN_NAME, sa.Text, nullable=False),
        sa.Column(REASON, sa.Text),
        sa.Column(RAW, sa.Text),
        sa.Column(RUN_ID, sa.Text, sa.ForeignKey("runs.run_id")),
        sa.UniqueConstraint(s.CALL_ID, s.SOURCE_FILE, s.SOURCE_ROW, COLUMN_NAME),
    )
    sa.Table(
        "events",
        md,
        sa.Column(EVENT_ID, sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(AT, sa.Text, nullable=False),
        sa.Column(RUN_ID, sa.Text, sa.ForeignKey("runs.run_id")),
        sa.Column(s.CALL_ID, sa.Text),
        sa.Column(DEMAND_REF, sa.Text, index=True),
        sa.Column(KIND, sa.Text, nullable=False, index=True),
        *(sa.Column(c, sa.Text) for c in (ACTOR, FIELD, OLD_VALUE, NEW_VALUE, s.EVIDENCE)),
    )


def _apply_v1(conn: Connection) -> None:
    md = sa.MetaData(naming_convention=NAMING)
    _define_v1(md)
    md.create_all(conn)


def _define_v2(md: sa.MetaData) -> None:
    """Version 2: chain leads' corrections (every reviewer's current proposal per demand) and the human decision
    per demand (the mapping that wins over every automated run; names as the taxonomy gave them at import)."""
    decided = (s.INDUSTRY_ID, s.CHAIN_ID)
    sa.Table(
        "corrections",
        md,
        sa.Column(DEMAND_REF, sa.Text, primary_key=True),
        sa.Column(REVIEWER, sa.Text, primary_key=True),
        sa.Column(ROLE, sa.Text, primary_key=True),  # "reviewer" (a chain lead) or "arbiter"
        *(sa.Column(c, sa.Text, nullable=False) for c in decided),
        *(sa.Column(c, sa.Text) for c in (NOTE, s.SOURCE_FILE)),
        sa.Column(s.SOURCE_ROW, sa.Integer),
        sa.Column(AT, sa.Text, nullable=False),
    )
    sa.Table(
        "human_mapping",
        md,
        sa.Column(DEMAND_REF, sa.Text, primary_key=True),
        *(sa.Column(c, sa.Text, nullable=False) for c in decided),
        *(sa.Column(c, sa.Text) for c in (s.INDUSTRY, s.CHAIN, REVIEWER, NOTE)),
        sa.Column(AT, sa.Text, nullable=False),
    )


def _apply_v2(conn: Connection) -> None:
    md = sa.MetaData(naming_convention=NAMING)
    _define_v2(md)
    md.create_all(conn)


def _define_v3(md: sa.MetaData) -> None:
    """Version 3: demands.cluster_group (the coarser, second clustering level; indexed) and its label."""
    demands = md.tables["demands"]
    for column in _V3_DEMAND_COLUMNS:
        demands.append_column(sa.Column(column, sa.Text, index=column == s.CLUSTER_GROUP))


def _apply_v3(conn: Connection) -> None:
    """ALTER TABLE on the existing demands table (portable: SQLite and PostgreSQL), then the index."""
    md = sa.MetaData(naming_convention=NAMING)
    _define_v1(md)
    _define_v3(md)
    demands = md.tables["demands"]
    for column in _V3_DEMAND_COLUMNS:
        conn.exec_driver_sql(f"ALTER TABLE demands ADD COLUMN {column} TEXT")
        for index in demands.indexes:
            if [c.name for c in index.columns] == [column]:
                index.create(conn)


def _define_v4(md: sa.MetaData) -> None:
    """Version 4: models learned from this library's human decisions, by version (a hash of what they learned)."""
    sa.Table(
        "mapper_models",
        md,
        sa.Column(MODEL_VERSION, sa.Text, primary_key=True),
        sa.Column(ENCODER, sa.Text, nullable=False),
        sa.Column(N_DECISIONS, sa.Integer, nullable=False),
        sa.Column(PAYLOAD, sa.LargeBinary, nullable=False),
        sa.Column(CREATED_AT, sa.Text, nullable=False),
    )


def _apply_v4(conn: Connection) -> None:
    md = sa.MetaData(naming_convention=NAMING)
    _define_v4(md)
    md.create_all(conn)


def _define_v5(md: sa.MetaData) -> None:
    """Version 5: staff decisions on draft-list entries (accept, reject, merge, split, retitle, withdraw)."""
    sa.Table(
        "entry_decisions",
        md,
        sa.Column("decision_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(s.ENTRY_ID, sa.Text, nullable=False, index=True),
        sa.Column("action", sa.Text, nullable=False),
        *(sa.Column(c, sa.Text) for c in ("target", "demand_ids", "new_title", "members", REVIEWER, "reason")),
        sa.Column(s.SOURCE_FILE, sa.Text),
        sa.Column(s.SOURCE_ROW, sa.Integer),
        sa.Column(AT, sa.Text, nullable=False),
    )


def _apply_v5(conn: Connection) -> None:
    md = sa.MetaData(naming_convention=NAMING)
    _define_v5(md)
    md.create_all(conn)


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    apply: Callable[[Connection], None]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "calls, runs, demands, quarantine, events", _apply_v1),
    Migration(2, "corrections, human_mapping", _apply_v2),
    Migration(3, "demands.cluster_group, cluster_group_label", _apply_v3),
    Migration(4, "mapper_models", _apply_v4),
    Migration(5, "entry_decisions", _apply_v5),
)

# the current schema (every migration applied), used to build queries
METADATA = sa.MetaData(naming_convention=NAMING)
MIGRATIONS_TABLE = _migrations_table(METADATA)
_define_v1(METADATA)
_define_v2(METADATA)
_define_v3(METADATA)
_define_v4(METADATA)
_define_v5(METADATA)
CALLS = METADATA.tables["calls"]
RUNS = METADATA.tables["runs"]
DEMANDS = METADATA.tables["demands"]
QUARANTINE = METADATA.tables["quarantine"]
EVENTS = METADATA.tables["events"]
CORRECTIONS = METADATA.tables["corrections"]
HUMAN_MAPPING = METADATA.tables["human_mapping"]
MAPPER_MODELS = METADATA.tables["mapper_models"]
ENTRY_DECISIONS = METADATA.tables["entry_decisions"]


def _define_v6(md: sa.MetaData) -> None:
    """Version 6: expert panel scores of draft-list entries, one row per entry and expert (0-100, NULL = not
    scored); members = the entry's demand ids when scored."""
    sa.Table(
        "expert_scores",
        md,
        sa.Column(s.ENTRY_ID, sa.Text, primary_key=True),
        sa.Column("expert", sa.Text, primary_key=True),
        *(sa.Column(c, sa.Float) for c in ("urgency", "difficulty", "market")),
        sa.Column("members", sa.Text),
        sa.Column(s.SOURCE_FILE, sa.Text),
        sa.Column(s.SOURCE_ROW, sa.Integer),
        sa.Column(AT, sa.Text, nullable=False),
    )


def _apply_v6(conn: Connection) -> None:
    md = sa.MetaData(naming_convention=NAMING)
    _define_v6(md)
    md.create_all(conn)


MIGRATIONS += (Migration(6, "expert_scores", _apply_v6),)
_define_v6(METADATA)
EXPERT_SCORES = METADATA.tables["expert_scores"]


def _define_v7(md: sa.MetaData) -> None:
    """Version 7: the search index a call is looked up in (pipelines/demand_index.py): per demand and encoder, the
    key of its need text, its MinHash band keys (lsh_bands uint64, little-endian) and its full vector (float32)."""
    sa.Table(
        "demand_index",
        md,
        sa.Column(s.DEMAND_ID, sa.Text, primary_key=True),
        sa.Column(ENCODER, sa.Text, nullable=False),
        sa.Column("copy_key", sa.Text, nullable=False),
        sa.Column("bands", sa.LargeBinary, nullable=False),
        sa.Column("vector", sa.LargeBinary, nullable=False),
    )


def _apply_v7(conn: Connection) -> None:
    md = sa.MetaData(naming_convention=NAMING)
    _define_v7(md)
    md.create_all(conn)


MIGRATIONS += (Migration(7, "demand_index", _apply_v7),)
_define_v7(METADATA)
DEMAND_INDEX = METADATA.tables["demand_index"]


def applied_versions(engine: Engine) -> list[int]:
    """Versions recorded in schema_migrations, ascending ([] when the table does not exist yet)."""
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table(MIGRATIONS_TABLE.name):
            return []
        return sorted(conn.execute(sa.select(MIGRATIONS_TABLE.c.version)).scalars())


def migrate(engine: Engine, migrations: Sequence[Migration] | None = None, target: int | None = None) -> list[int]:
    """Apply the missing migrations (up to `target` when given) in version order; return the versions applied.

    Raises ConfigError (Chinese) when the database was written by a newer program version.
    """
    steps = sorted(MIGRATIONS if migrations is None else migrations, key=lambda m: m.version)
    latest = steps[-1].version if steps else 0
    with engine.begin() as conn:
        MIGRATIONS_TABLE.create(conn, checkfirst=True)
        done = set(conn.execute(sa.select(MIGRATIONS_TABLE.c.version)).scalars())
    if done and max(done) > latest:
        where = engine.url.render_as_string(hide_password=True)
        raise ConfigError(
            f"需求库数据库 {where} 的结构版本为 {max(done)}，高于本程序支持的版本 {latest}："
            "请升级 ningliang 后再打开该数据库。"
        )
    applied: list[int] = []
    for step in steps:
        if step.version in done or (target is not None and step.version > target):
            continue
        with engine.begin() as conn:
            step.apply(conn)
            row = {"version": step.version, "name": step.name, "applied_at": now_utc()}
            conn.execute(sa.insert(MIGRATIONS_TABLE).values(row))
        applied.append(step.version)
    return applied


def _sqlite_events(engine: Engine) -> None:
    """Autocommit at the driver, BEGIN emitted by SQLAlchemy (so DDL is transactional); WAL; foreign keys."""

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN")


def _psycopg_events(engine: Engine) -> None:
    """PostgreSQL text cannot hold NUL (U+0000), which SQLite stores as any other character: every string sent
    through psycopg has it removed (a DataError otherwise, e.g. for a note imported from a CSV file)."""
    from psycopg.adapt import Buffer
    from psycopg.types.string import StrBinaryDumper, StrDumperUnknown

    class _Text(StrDumperUnknown):
        def dump(self, obj: str) -> Buffer | None:
            return super().dump(obj.replace("\x00", "") if "\x00" in obj else obj)

    class _Binary(StrBinaryDumper):
        def dump(self, obj: str) -> Buffer | None:
            return super().dump(obj.replace("\x00", "") if "\x00" in obj else obj)

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.adapters.register_dumper(str, _Text)
        dbapi_conn.adapters.register_dumper(str, _Binary)


def _sqlite_folder(url: URL) -> None:
    database = url.database or ""
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)


def create_engine(url: str) -> Engine:
    """An engine for `url`; ConfigError (Chinese) when the URL is malformed or names an unknown database kind."""
    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError as exc:
        raise ConfigError(f"需求库数据库地址无效：{url!r}（示例：sqlite:///data/library.sqlite）") from exc
    if parsed.drivername in ("postgresql", "postgres"):  # no driver named: the one installed (psycopg 3)
        parsed = parsed.set(drivername="postgresql+psycopg")
    shown = parsed.render_as_string(hide_password=True)
    try:
        if parsed.get_backend_name() == "sqlite":
            _sqlite_folder(parsed)
        engine = sa.create_engine(parsed)
    except OSError as exc:
        raise ConfigError(f"无法创建需求库数据库 {shown} 所在的文件夹：{exc}") from exc
    except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError) as exc:
        raise ConfigError(f"需求库数据库地址 {shown} 无法使用：{exc}（请检查数据库类型与驱动）") from exc
    except ImportError as exc:
        raise ConfigError(f"需求库数据库 {shown} 需要的驱动未安装：{exc}") from exc
    if engine.dialect.name == "sqlite":
        _sqlite_events(engine)
    elif engine.dialect.name == "postgresql" and engine.dialect.driver == "psycopg":
        _psycopg_events(engine)
    return engine
