"""The demand library on each backend (a temporary SQLite file, a fresh PostgreSQL database): schema, migrations,
upserts, events, runs, errors."""

import json
import math
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pipelines import migrations as m
from pipelines import schema as s
from pipelines.errors import ConfigError
from pipelines.learned_mapping import CorrectionModel
from pipelines.settings import MappingConfig
from pipelines.store import DECISION_FIELDS, Library

TABLES = {"schema_migrations", "calls", "runs", "demands", "quarantine", "events"}
LATEST = max(step.version for step in m.MIGRATIONS)


def _url(path: Path) -> str:
    return f"sqlite:///{path}"


NewUrl = Callable[[str], str]


def _demands() -> pd.DataFrame:
    return pd.DataFrame(
        {
            s.DEMAND_ID: ["D0000000000000001", "D0000000000000002"],
            s.CALL_ID: ["c2026", "c2026"],
            s.SOURCE_FILE: ["calls.xlsx", "calls.xlsx"],
            s.SOURCE_ROW: [2, 3],
            s.TITLE: ["锂电池回收技术", "锂电池回收工艺"],
            s.FUNDING: [50.0, float("nan")],
            s.INDUSTRY_ID: ["I01", "I01"],
            s.CHAIN_ID: ["C03", "C03"],
            s.CONFIDENCE: [0.81, 0.42],
            s.EVIDENCE: ["关键词：锂电池", "关键词：回收"],
            s.NEEDS_REVIEW: [False, True],
            s.DUPLICATE_GROUP: ["G0000000000000001", "G0000000000000001"],
            s.DUPLICATE_REASON: ["", "与 D0000000000000001 近似重复"],
            s.CLUSTER_ID: ["C0000000000000001", "C0000000000000001"],
            s.CLUSTER_LABEL: ["锂电池 回收", "锂电池 回收"],
            s.CLUSTER_GROUP: ["K0000000000000001", "K0000000000000001"],
            s.CLUSTER_GROUP_LABEL: ["锂电池、回收、梯次", "锂电池、回收、梯次"],
            s.TOKENS: ["锂电池 回收", "锂电池 回收 工艺"],  # not a library column: ignored
        }
    )


def _quarantine() -> pd.DataFrame:
    return pd.DataFrame(
        {
            s.CALL_ID: ["c2026"],
            s.SOURCE_FILE: ["calls.xlsx"],
            s.SOURCE_ROW: [7],
            "column": ["需求名称"],
            "reason": ["标题为空"],
            "raw": [json.dumps({"需求名称": ""}, ensure_ascii=False)],
        }
    )


@pytest.fixture
def lib(library_url: str) -> Iterator[Library]:
    library = Library.open(library_url)
    yield library
    library.close()


@pytest.fixture
def run_id(lib: Library) -> str:
    return lib.start_run("c2026", config_hash="cfg1", taxonomy_version="tax1", encoder="use")


def _scalar(lib: Library, sql: str) -> object:
    engine = sa.create_engine(lib.url)
    with engine.connect() as conn:
        value = conn.exec_driver_sql(sql).scalar()
    engine.dispose()
    return value


# --- schema and migrations ------------------------------------------------------------------------------
def test_fresh_database_is_created_and_fully_migrated(lib: Library) -> None:
    assert lib.schema_version() == LATEST
    engine = sa.create_engine(lib.url)
    inspector = sa.inspect(engine)
    assert set(inspector.get_table_names()) >= TABLES
    demand_columns = {c["name"] for c in inspector.get_columns("demands")}
    assert set(m.DEMAND_DATA_COLUMNS) | {m.FIRST_RUN_ID, m.LAST_RUN_ID, m.UPDATED_AT} == demand_columns
    indexed = {tuple(ix["column_names"]) for ix in inspector.get_indexes("demands")}
    for column in (s.CALL_ID, s.CHAIN_ID, s.DUPLICATE_GROUP, s.CLUSTER_ID, s.CLUSTER_GROUP, s.CONTENT_HASH):
        assert (column,) in indexed
    assert {tuple(ix["column_names"]) for ix in inspector.get_indexes("events")} >= {("demand_id",), ("kind",)}
    engine.dispose()


def test_a_sqlite_library_is_created_in_its_folder_in_wal_mode(tmp_path: Path) -> None:
    with Library.open(_url(tmp_path / "nested" / "folder" / "library.sqlite")) as library:
        assert (tmp_path / "nested" / "folder" / "library.sqlite").is_file()
        assert library.schema_version() == LATEST
        assert _scalar(library, "PRAGMA journal_mode") == "wal"


def test_foreign_keys_are_enforced(lib: Library) -> None:
    with lib._ready().begin() as conn, pytest.raises(sa.exc.IntegrityError):
        conn.execute(sa.insert(m.RUNS).values({m.RUN_ID: "R1", s.CALL_ID: "no-such-call"}))


def test_migrate_twice_is_a_no_op(lib: Library) -> None:
    assert lib.migrate() == []
    assert Library.open(lib.url).migrate() == []
    assert _scalar(lib, "SELECT COUNT(*) FROM schema_migrations") == len(m.MIGRATIONS)


def test_older_database_gets_the_missing_migrations(new_library_url: NewUrl) -> None:
    url = new_library_url("old")
    engine = m.create_engine(url)
    assert m.migrate(engine, target=0) == []  # a database from before version 1: bookkeeping table only
    engine.dispose()
    library = Library.open(url)
    assert library.schema_version() == LATEST
    assert set(sa.inspect(sa.create_engine(url)).get_table_names()) >= TABLES
    library.close()


def test_a_v2_library_gains_cluster_group_and_keeps_its_demands(new_library_url: NewUrl) -> None:
    url = new_library_url("v2")
    engine = m.create_engine(url)
    assert m.migrate(engine, target=2) == [1, 2]
    with engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO calls (call_id) VALUES ('c2025')")
        conn.exec_driver_sql("INSERT INTO demands (demand_id, call_id, cluster_id) VALUES ('D01', 'c2025', 'C01')")
    assert s.CLUSTER_GROUP not in {c["name"] for c in sa.inspect(engine).get_columns("demands")}
    engine.dispose()
    with Library.open(url) as library:
        assert library.schema_version() == LATEST >= 3
        stored = library.demands()
        assert stored[s.CLUSTER_ID].tolist() == ["C01"] and stored[s.CLUSTER_GROUP].isna().all()
        run = library.start_run("c2025", "cfg", "tax", "use")
        grouped = pd.DataFrame({s.DEMAND_ID: ["D01"], s.CALL_ID: ["c2025"], s.CLUSTER_GROUP: ["K01"]})
        assert library.save_call(run, grouped, pd.DataFrame())["events"] == 1
        assert library.demands()[s.CLUSTER_GROUP].tolist() == ["K01"]
    inspector = sa.inspect(sa.create_engine(url))
    assert (s.CLUSTER_GROUP,) in {tuple(ix["column_names"]) for ix in inspector.get_indexes("demands")}


def _add_note_column(conn: Connection) -> None:
    conn.exec_driver_sql("ALTER TABLE calls ADD COLUMN note TEXT")


def test_opening_a_v1_database_applies_later_migrations(
    new_library_url: NewUrl, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = new_library_url("v1")
    with Library.open(url) as library:
        library.start_run("c2026", "cfg", "tax", "use")
    monkeypatch.setattr(m, "MIGRATIONS", (*m.MIGRATIONS, m.Migration(LATEST + 1, "calls.note", _add_note_column)))
    with Library.open(url) as library:
        assert library.schema_version() == LATEST + 1
        assert len(library.runs()) == 1  # data kept
    columns = {c["name"] for c in sa.inspect(sa.create_engine(url)).get_columns("calls")}
    assert "note" in columns


def _broken(conn: Connection) -> None:
    conn.exec_driver_sql("CREATE TABLE half_done (x INTEGER)")
    raise RuntimeError("migration failed midway")


def test_a_failing_migration_leaves_nothing_behind(new_library_url: NewUrl, monkeypatch: pytest.MonkeyPatch) -> None:
    url = new_library_url("broken")
    monkeypatch.setattr(m, "MIGRATIONS", (*m.MIGRATIONS, m.Migration(LATEST + 1, "broken", _broken)))
    with pytest.raises(RuntimeError):
        Library.open(url)
    engine = m.create_engine(url)
    assert "half_done" not in sa.inspect(engine).get_table_names()  # DDL rolled back with its transaction
    assert m.applied_versions(engine) == [step.version for step in m.MIGRATIONS[:-1]]
    engine.dispose()


def test_database_from_a_future_version_is_refused(lib: Library) -> None:
    with lib._ready().begin() as conn:
        conn.execute(sa.insert(m.MIGRATIONS_TABLE).values(version=LATEST + 5, name="future", applied_at="x"))
    lib.close()
    with pytest.raises(ConfigError, match="高于本程序支持的版本"):
        Library.open(lib.url)


@pytest.mark.parametrize(
    "url", ["not a database url", "nosuchdb://host/db", "sqlite+nodriver:///x.db", "postgresql+nodriver://u@/db"]
)
def test_bad_url_raises_config_error_in_chinese(url: str) -> None:
    with pytest.raises(ConfigError, match="需求库数据库"):
        Library.open(url)


def test_unreachable_database_raises_config_error(tmp_path: Path) -> None:
    folder = tmp_path / "a-folder"
    folder.mkdir()
    with pytest.raises(ConfigError, match="无法打开需求库数据库"):
        Library.open(_url(folder))  # a directory is not a database file
    with pytest.raises(ConfigError, match="无法打开需求库数据库"):
        Library.open(f"postgresql+psycopg://postgres@/library?host={tmp_path / 'no-server'}")  # no server there


# --- runs -----------------------------------------------------------------------------------------------
def test_runs_are_started_and_finished(lib: Library, run_id: str) -> None:
    assert run_id.startswith("R")
    runs = lib.runs("c2026")
    assert runs[m.RUN_ID].tolist() == [run_id]
    assert runs[m.STATUS].iloc[0] == "running"
    assert runs[m.STARTED_AT].iloc[0].endswith("+00:00")
    lib.finish_run(run_id, "succeeded", {"rows": 2, "文件": ["calls.xlsx"]})
    run = lib.runs().iloc[0]
    assert run[m.STATUS] == "succeeded"
    assert run[m.FINISHED_AT] >= run[m.STARTED_AT]
    assert json.loads(run[m.MANIFEST_JSON]) == {"rows": 2, "文件": ["calls.xlsx"]}
    assert (run[m.CONFIG_HASH], run[m.TAXONOMY_VERSION], run[m.ENCODER]) == ("cfg1", "tax1", "use")
    assert lib.runs("other-call").empty
    assert _scalar(lib, "SELECT COUNT(*) FROM calls") == 1
    second = lib.start_run("c2026", "cfg1", "tax1", "use")
    assert second != run_id
    assert _scalar(lib, "SELECT COUNT(*) FROM calls") == 1
    with pytest.raises(ValueError):
        lib.finish_run(run_id, "done", {})
    with pytest.raises(ValueError):
        lib.finish_run("R-unknown", "failed", {})


# --- save_call ------------------------------------------------------------------------------------------
def test_save_call_inserts_demands_and_records_decisions(lib: Library, run_id: str) -> None:
    counts = lib.save_call(run_id, _demands(), _quarantine())
    assert counts == {"inserted": 2, "updated": 0, "unchanged": 0, "events": 10, "quarantined": 1}
    stored = lib.demands("c2026")
    assert stored[s.DEMAND_ID].tolist() == ["D0000000000000001", "D0000000000000002"]
    assert (stored[m.FIRST_RUN_ID] == run_id).all() and (stored[m.LAST_RUN_ID] == run_id).all()
    assert stored[s.NEEDS_REVIEW].tolist() == [0, 1]
    events = lib.events()
    assert len(events) == 10 and set(events[m.ACTOR]) == {"pipeline"}
    assert events[m.FIELD].tolist() == list(DECISION_FIELDS) * 2
    first = lib.events(demand_id="D0000000000000002", kind="mapping")
    assert first[m.FIELD].tolist() == [s.INDUSTRY_ID, s.CHAIN_ID]
    assert first[m.OLD_VALUE].isna().all() and first[m.NEW_VALUE].tolist() == ["I01", "C03"]
    assert first[s.EVIDENCE].tolist() == ["关键词：回收", "关键词：回收"]
    grouping = lib.events(demand_id="D0000000000000002", kind="grouping")
    assert grouping[s.EVIDENCE].tolist() == ["与 D0000000000000001 近似重复", "锂电池 回收", "锂电池、回收、梯次"]
    assert stored[s.CLUSTER_GROUP].tolist() == ["K0000000000000001"] * 2
    assert (events[m.RUN_ID] == run_id).all() and (events[s.CALL_ID] == "c2026").all()


def test_saving_the_same_call_again_changes_nothing(lib: Library, run_id: str) -> None:
    lib.save_call(run_id, _demands(), _quarantine())
    before = lib.demands()
    again = lib.start_run("c2026", "cfg1", "tax1", "use")
    counts = lib.save_call(again, _demands(), _quarantine())
    assert counts == {"inserted": 0, "updated": 0, "unchanged": 2, "events": 0, "quarantined": 1}
    assert len(lib.events()) == 10
    pd.testing.assert_frame_equal(lib.demands(), before)
    # the library's own output saved back is unchanged too
    assert lib.save_call(again, lib.demands(), pd.DataFrame())["unchanged"] == 2


def test_a_changed_chain_gives_exactly_one_mapping_event(lib: Library, run_id: str) -> None:
    lib.save_call(run_id, _demands(), _quarantine())
    changed = _demands()
    changed.loc[1, s.CHAIN_ID] = "C05"
    changed.loc[1, s.EVIDENCE] = "关键词：储能"
    again = lib.start_run("c2026", "cfg1", "tax1", "use")
    counts = lib.save_call(again, changed, _quarantine())
    assert counts == {"inserted": 0, "updated": 1, "unchanged": 1, "events": 1, "quarantined": 1}
    event = lib.events(kind="mapping").iloc[-1]
    assert (event["demand_id"], event[m.FIELD]) == ("D0000000000000002", s.CHAIN_ID)
    assert (event[m.OLD_VALUE], event[m.NEW_VALUE], event[s.EVIDENCE]) == ("C03", "C05", "关键词：储能")
    assert event[m.RUN_ID] == again
    row = lib.demands().set_index(s.DEMAND_ID).loc["D0000000000000002"]
    assert (row[s.CHAIN_ID], row[m.FIRST_RUN_ID], row[m.LAST_RUN_ID]) == ("C05", run_id, again)


def test_nan_is_null_and_missing_columns_are_null(lib: Library, run_id: str) -> None:
    lib.save_call(run_id, _demands(), pd.DataFrame())
    assert _scalar(lib, "SELECT COUNT(*) FROM demands WHERE funding_wan IS NULL") == 1
    assert _scalar(lib, "SELECT funding_wan FROM demands WHERE demand_id = 'D0000000000000001'") == 50.0
    assert _scalar(lib, "SELECT COUNT(*) FROM demands WHERE enterprise IS NULL") == 2
    assert math.isnan(lib.demands()[s.FUNDING].iloc[1])


def test_partial_frame_inserts_new_and_keeps_stored_values(lib: Library, run_id: str) -> None:
    lib.save_call(run_id, _demands(), pd.DataFrame())
    partial = pd.DataFrame({s.DEMAND_ID: ["D0000000000000001", "D0000000000000009"], s.CALL_ID: ["c2026"] * 2})
    counts = lib.save_call(run_id, partial, pd.DataFrame())
    assert (counts["inserted"], counts["unchanged"], counts["events"]) == (1, 1, 0)
    stored = lib.demands().set_index(s.DEMAND_ID)
    assert stored.loc["D0000000000000001", s.CHAIN_ID] == "C03"
    assert stored.loc["D0000000000000009"].drop([s.CALL_ID, m.FIRST_RUN_ID, m.LAST_RUN_ID, m.UPDATED_AT]).isna().all()


def test_required_columns_and_unique_ids(lib: Library, run_id: str) -> None:
    with pytest.raises(ValueError, match="missing columns"):
        lib.save_call(run_id, pd.DataFrame({s.DEMAND_ID: ["D1"]}), pd.DataFrame())
    twice = pd.DataFrame({s.DEMAND_ID: ["D1", "D1"], s.CALL_ID: ["c2026"] * 2})
    with pytest.raises(ValueError, match="duplicate"):
        lib.save_call(run_id, twice, pd.DataFrame())
    with pytest.raises(ValueError, match="unknown run"):
        lib.save_call("R-unknown", _demands(), pd.DataFrame())
    assert lib.demands().empty and lib.events().empty  # nothing half-written


def test_quarantine_is_upserted_not_duplicated(lib: Library, run_id: str) -> None:
    lib.save_call(run_id, _demands(), _quarantine())
    lib.save_call(run_id, _demands(), _quarantine())
    stored = lib.quarantine("c2026")
    assert len(stored) == 1
    assert (stored[m.COLUMN_NAME].iloc[0], stored[s.SOURCE_ROW].iloc[0]) == ("需求名称", 7)
    reworded = _quarantine().assign(reason=["标题为空（已去除空格）"])
    lib.save_call(run_id, _demands(), reworded)
    assert lib.quarantine()[m.REASON].tolist() == ["标题为空（已去除空格）"]


def test_record_event_by_a_person(lib: Library, run_id: str) -> None:
    lib.save_call(run_id, _demands(), pd.DataFrame())
    lib.record_event(
        run_id=None,
        call_id="c2026",
        demand_id="D0000000000000002",
        kind="correction",
        actor="张三",
        field=s.CHAIN_ID,
        old_value="C03",
        new_value="C07",
        evidence="人工复核",
    )
    corrections = lib.events(kind="correction")
    assert corrections[[m.ACTOR, m.OLD_VALUE, m.NEW_VALUE]].values.tolist() == [["张三", "C03", "C07"]]
    assert corrections[m.AT].iloc[0].endswith("+00:00")
    assert len(lib.events(demand_id="D0000000000000002")) == 6
    with pytest.raises(ValueError):
        lib.record_event(run_id=None, call_id=None, demand_id=None, kind="", actor="张三")


# --- the same answers on every backend ----------------------------------------------------------------------
def test_text_is_ordered_by_code_point_on_every_backend(lib: Library, run_id: str) -> None:
    """PostgreSQL sorts text by the database's locale (a Chinese one sorts by pinyin, case-insensitively):
    the library orders by code point on every backend, as SQLite does."""
    files = ["阿坝.xlsx", "成都.xlsx", "b.xlsx", "A.xlsx"]
    frame = pd.DataFrame(
        {s.DEMAND_ID: [f"D{i}" for i in range(4)], s.CALL_ID: "c2026", s.SOURCE_FILE: files, s.SOURCE_ROW: 2}
    )
    lib.save_call(run_id, frame, pd.DataFrame())
    assert lib.demands()[s.SOURCE_FILE].tolist() == sorted(files) == ["A.xlsx", "b.xlsx", "成都.xlsx", "阿坝.xlsx"]
    for reviewer in ("李四", "张三", "Zoe", "amy"):
        lib.record_event(run_id=None, call_id="c2026", demand_id="D0", kind="note", actor=reviewer)
    assert lib.events(kind="note")[m.ACTOR].tolist() == ["李四", "张三", "Zoe", "amy"]  # in the order written


def test_thousands_of_demands_and_long_id_lists(lib: Library, run_id: str) -> None:
    n = 2 * m.CHUNK + 37
    frame = pd.DataFrame(
        {
            s.DEMAND_ID: [f"D{i:05d}" for i in range(n)],
            s.CALL_ID: [f"c{i % 3}" for i in range(n)],
            s.SOURCE_FILE: "big.csv",
            s.SOURCE_ROW: range(2, n + 2),
            s.FUNDING: [float("nan") if i % 5 == 0 else i * 0.5 for i in range(n)],
            s.NEEDS_REVIEW: [i % 2 == 0 for i in range(n)],
            s.CHAIN_ID: "EC-BATT",
        }
    )
    assert lib.save_call(run_id, frame, pd.DataFrame())["inserted"] == n
    again = lib.save_call(run_id, frame, pd.DataFrame())
    assert (again["unchanged"], again["events"]) == (n, 0)
    stored = lib.demands()
    assert len(stored) == n and stored[s.NEEDS_REVIEW].sum() == (n + 1) // 2
    assert stored[s.FUNDING].isna().sum() == len(range(0, n, 5))
    assert lib.demands_by_external_id([f"X{i}" for i in range(n)]) == {}
    assert len(lib.events(kind="mapping")) == n


def test_a_learned_model_is_stored_as_bytes_and_read_back(lib: Library, run_id: str) -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(6, 8)).astype(np.float32)
    X[:3, 0] += 3.0
    model = CorrectionModel.fit(X, ["EC/EC-BATT"] * 3 + ["NONE/NONE"] * 3, "Ltest", "enc", MappingConfig())
    assert lib.save_mapper_model(model, run_id) and not lib.save_mapper_model(model, run_id)
    again = lib.mapper_model("Ltest")
    assert again is not None and again.to_bytes() == model.to_bytes()
    assert np.array_equal(again.predict_proba(X), model.predict_proba(X))
    assert lib.mapper_model("nope") is None
    assert [(v, n) for v, n, _ in lib.mapper_models()] == [("Ltest", 6)]
    assert lib.events(kind="mapper_model")[m.NEW_VALUE].tolist() == ["Ltest"]


def test_a_nul_character_does_not_break_a_save(lib: Library, run_id: str) -> None:
    """PostgreSQL text cannot hold U+0000 (SQLite can): the PostgreSQL engine drops it instead of failing."""
    frame = pd.DataFrame({s.DEMAND_ID: ["D1"], s.CALL_ID: ["c2026"], s.TITLE: ["锂电\x00回收"]})
    assert lib.save_call(run_id, frame, pd.DataFrame())["inserted"] == 1
    lib.record_event(run_id=None, call_id="c2026", demand_id="D1", kind="note", actor="张\x00三", evidence="备注\x00")
    assert lib.demands()[s.TITLE].tolist() == ["锂电回收"]  # demand values are stored without it on every backend
    assert lib.save_call(run_id, frame, pd.DataFrame())["unchanged"] == 1
    assert lib.events(kind="note")[m.ACTOR].iloc[0].replace("\x00", "") == "张三"


def test_a_postgresql_url_without_a_driver_uses_psycopg(library_url: str) -> None:
    plain = library_url.replace("postgresql+psycopg://", "postgresql://")
    with Library.open(plain) as library:
        assert library.schema_version() == LATEST
        assert library._ready().dialect.driver == ("psycopg" if plain.startswith("postgresql") else "pysqlite")
