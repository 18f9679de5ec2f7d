"""The chain-lead review loop: export workbooks, import corrections, human decisions win, arbitration."""

import csv
from collections.abc import Iterator
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result

from pipelines import migrations as m
from pipelines import schema as s
from pipelines.cli import main
from pipelines.corrections import (
    ARBITER_ROLE,
    REVIEWER_ROLE,
    Correction,
    Proposal,
    apply_human_decisions,
    decide,
    default_taxonomy,
)
from pipelines.review_workbook import ANSWER_COLUMNS, IDS_SHEET, REVIEW_COLUMNS, REVIEW_SHEET, alternative_chains
from pipelines.store import Library
from pipelines.taxonomy import Taxonomy

CALL = "c2026"
# answer columns of the 复核 sheet, by header
VERDICT_COL, INDUSTRY_COL, CHAIN_COL, REVIEWER_COL, NOTE_COL = (
    openpyxl.utils.get_column_letter(len(REVIEW_COLUMNS) + i) for i in range(1, len(ANSWER_COLUMNS) + 1)
)


def _demands(
    call: str = CALL, chains: tuple[str, str, str, str] = ("EC-BATT", "AM-CHEMMAT", "NONE", "EM-NEV")
) -> pd.DataFrame:
    industries = [c.split("-")[0] if c != s.NONE else "AM" for c in chains]
    return pd.DataFrame(
        {
            s.DEMAND_ID: [f"D{call}{i}" for i in range(1, 5)],
            s.CALL_ID: call,
            s.EXTERNAL_ID: ["A-1", "A-2", "=A-3", "A-4"],
            s.SOURCE_FILE: "征集表.xlsx",
            s.SOURCE_ROW: [2, 3, 4, 5],
            s.TITLE: ["全钒液流电池储能系统", '=HYPERLINK("http://x")碳纤维复合材料', "芳纶纤维", "新能源汽车电驱"],
            s.TEXT: ["提升电堆功率密度", "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)"],
            s.ENTERPRISE: ["甲公司", "乙公司", "丙公司", "丁公司"],
            s.INDUSTRY_ID: industries,
            s.CHAIN_ID: list(chains),
            s.CONFIDENCE: [0.91, 0.42, 0.30, 0.75],
            s.INDUSTRY_CONFIDENCE: [0.95, 0.60, 0.50, 0.80],
            s.EVIDENCE: ["判定：动力电池", "判定：化工新材料", "判定：先进材料", "判定：新能源汽车"],
            s.ALTERNATIVES: ["AM/AM-CHEMMAT:0.040", "EC/EC-BATT:0.300;EM/EM-NEV:0.100", "AM/AM-CHEMMAT:0.2", ""],
            s.SECONDARY_CHAIN_ID: ["", "EC-BATT", "", ""],
            s.NEEDS_REVIEW: [False, True, True, False],
            s.REVIEW_REASON: ["", "置信度低", "置信度低", ""],
        }
    )


@pytest.fixture
def db(library_url: str) -> Iterator[str]:
    url = library_url  # SQLite and PostgreSQL (conftest)
    with Library.open(url) as library:
        run = library.start_run(CALL, "cfg", "tax", "use")
        library.save_call(run, _demands(), pd.DataFrame())
    yield url


@pytest.fixture(scope="module")
def taxonomy() -> Taxonomy:
    return default_taxonomy()


def _cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def _export(db: str, out: Path, *extra: str) -> Result:
    result = _cli("review", "export", "--call", CALL, "--db", db, "--out", str(out), *extra)
    assert result.exit_code == 0, result.output
    return result


def _import(db: str, *files: Path | str, extra: tuple[str, ...] = ()) -> Result:
    return _cli("review", "import", *map(str, files), "--db", db, *extra)


def _library(db: str) -> Library:
    return Library.open(db)


def _demand(db: str, demand_id: str) -> pd.Series:
    with _library(db) as library:
        return library.demands().set_index(s.DEMAND_ID).loc[demand_id]


def _row_of(sheet: openpyxl.worksheet.worksheet.Worksheet, demand_id: str) -> int:
    for row in range(2, sheet.max_row + 1):
        if sheet.cell(row=row, column=1).value == demand_id:
            return row
    raise AssertionError(f"{demand_id} not in the sheet")


def _fill(path: Path, out: Path, answers: dict[str, dict[str, str]]) -> Path:
    """Open an exported workbook, write answers {demand_id: {column letter: value}}, save as `out`."""
    book = openpyxl.load_workbook(path)
    sheet = book[REVIEW_SHEET]
    for demand_id, cells in answers.items():
        row = _row_of(sheet, demand_id)
        for letter, value in cells.items():
            sheet[f"{letter}{row}"] = value
    book.save(out)
    return out


def _csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        csv.writer(fh).writerows([header, *rows])
    return path


# --- export -----------------------------------------------------------------------------------------------
def test_export_writes_one_workbook_per_chain_with_drop_downs_and_no_formulas(db: str, tmp_path: Path) -> None:
    out = tmp_path / "review"
    result = _export(db, out)
    names = sorted(p.name for p in out.iterdir())
    assert names == [f"review-{CALL}-{c}.xlsx" for c in ("AM-CHEMMAT", "EC-BATT", "EM-NEV", "NONE")], result.output
    book = openpyxl.load_workbook(out / f"review-{CALL}-EC-BATT.xlsx")
    assert book.sheetnames == ["说明", REVIEW_SHEET, IDS_SHEET]
    assert book[IDS_SHEET].sheet_state == "hidden"
    assert "如何填写" in " ".join(str(c.value) for row in book["说明"].iter_rows() for c in row if c.value)
    sheet = book[REVIEW_SHEET]
    # its own demand, the one with EC-BATT as secondary chain; not the others
    ids = [sheet.cell(row=r, column=1).value for r in range(2, sheet.max_row + 1)]
    assert ids == [f"D{CALL}1", f"D{CALL}2"]
    assert [sheet.cell(row=r, column=4).value for r in (2, 3)] == ["本链判定", "第二产业链"]
    headers = [c.value for c in sheet[1]]
    assert headers[-5:] == ["审核结论", "更正产业编号", "更正产业链编号", "审核人", "备注"]
    validations = {str(dv.sqref): dv for dv in sheet.data_validations.dataValidation}
    assert validations[f"{VERDICT_COL}2:{VERDICT_COL}3"].formula1 == '"确认,更正"'
    industry_list = validations[f"{INDUSTRY_COL}2:{INDUSTRY_COL}3"].formula1
    chain_list = validations[f"{CHAIN_COL}2:{CHAIN_COL}3"].formula1
    assert industry_list == f"'{IDS_SHEET}'!$A$2:$A$8" and chain_list.startswith(f"'{IDS_SHEET}'!$C$2:$C$")
    ids_sheet = book[IDS_SHEET]
    listed = [ids_sheet.cell(row=r, column=3).value for r in range(2, ids_sheet.max_row + 1)]
    taxonomy = default_taxonomy()
    assert listed == [c.id for c in taxonomy.chains] + [s.NONE]
    assert [ids_sheet.cell(row=r, column=1).value for r in range(2, 9)] == ["EI", "EM", "FT", "EC", "AM", "MH", "NONE"]
    for name in names:
        for ws in openpyxl.load_workbook(out / name).worksheets:
            for row in ws.iter_rows():
                for cell in row:
                    assert cell.data_type != "f"
                    assert not (isinstance(cell.value, str) and cell.value[:1] in ("=", "+", "-", "@"))


def test_export_one_chain_and_refusals(db: str, tmp_path: Path) -> None:
    _export(db, tmp_path / "one", "--chain", "ec-batt")
    assert [p.name for p in (tmp_path / "one").iterdir()] == [f"review-{CALL}-EC-BATT.xlsx"]
    unknown = _cli("review", "export", "--call", CALL, "--chain", "XX-1", "--db", db, "--out", str(tmp_path))
    assert unknown.exit_code == 2 and "未知产业链编号 XX-1" in unknown.output and "Traceback" not in unknown.output
    no_call = _cli("review", "export", "--call", "nope", "--db", db, "--out", str(tmp_path))
    assert no_call.exit_code == 2 and "没有批次 nope" in no_call.output


# --- import round trip ------------------------------------------------------------------------------------
def test_workbook_round_trip_records_events_and_human_decision_survives_later_runs(db: str, tmp_path: Path) -> None:
    _export(db, tmp_path / "out")
    exported = tmp_path / "out" / f"review-{CALL}-EC-BATT.xlsx"
    filled = _fill(
        exported,
        tmp_path / "张三.xlsx",
        {
            f"D{CALL}1": {VERDICT_COL: "确认", REVIEWER_COL: "张三"},
            f"D{CALL}2": {VERDICT_COL: "更正", CHAIN_COL: "EC-BATT", REVIEWER_COL: "张三", NOTE_COL: "+钒电池储能"},
        },
    )
    result = _import(db, filled)
    assert result.exit_code == 0, result.output
    assert "应用 2 条" in result.output and "无效 0 条" in result.output
    d2 = _demand(db, f"D{CALL}2")
    assert (d2[s.INDUSTRY_ID], d2[s.CHAIN_ID], d2[s.NEEDS_REVIEW]) == ("EC", "EC-BATT", 0)
    assert d2[s.EVIDENCE].startswith("人工更正：张三 20")
    with _library(db) as library:
        events = library.events(kind="correction")
        assert events[[m.FIELD, m.OLD_VALUE, m.NEW_VALUE]].values.tolist() == [
            [s.INDUSTRY_ID, "AM", "EC"],
            [s.CHAIN_ID, "AM-CHEMMAT", "EC-BATT"],
        ]
        assert set(events[m.ACTOR]) == {"张三"} and events[m.AT].str.endswith("+00:00").all()
        assert "张三.xlsx 第 3 行" in events[s.EVIDENCE].iloc[0] and "+钒电池储能" in events[s.EVIDENCE].iloc[0]
        confirmation = library.events(kind="confirmation")
        assert confirmation[[m.ACTOR, s.DEMAND_ID]].values.tolist() == [["张三", f"D{CALL}1"]]
        human = library.human_mappings()
        assert human[[s.DEMAND_ID, s.INDUSTRY_ID, s.CHAIN_ID, m.REVIEWER]].values.tolist() == [
            [f"D{CALL}1", "EC", "EC-BATT", "张三"],
            [f"D{CALL}2", "EC", "EC-BATT", "张三"],
        ]
        # the next automated run maps D2 back to AM-CHEMMAT and D1 elsewhere: the human decisions stay
        remapped = _demands(chains=("EM-NEV", "AM-CHEMMAT", "NONE", "EM-NEV"))
        run = library.start_run(CALL, "cfg", "tax", "use")
        mapping_events = len(library.events(kind="mapping"))
        library.save_call(run, remapped, pd.DataFrame())
        stored = library.demands().set_index(s.DEMAND_ID)
        assert stored.loc[f"D{CALL}2", s.CHAIN_ID] == "EC-BATT" and stored.loc[f"D{CALL}1", s.CHAIN_ID] == "EC-BATT"
        assert stored.loc[f"D{CALL}2", s.EVIDENCE].startswith("人工更正：张三")
        assert len(library.events(kind="mapping")) == mapping_events  # no event: the human value did not change
        # reports show the human decision too
        shown = apply_human_decisions(remapped.assign(**{s.CHAIN: "x"}), library.human_mappings())
    assert shown.set_index(s.DEMAND_ID).loc[f"D{CALL}1", s.CHAIN_ID] == "EC-BATT"
    assert shown.set_index(s.DEMAND_ID).loc[f"D{CALL}2", s.CHAIN] == "动力电池(锂电)"
    assert not shown.set_index(s.DEMAND_ID).loc[f"D{CALL}2", s.NEEDS_REVIEW]


def test_second_import_of_the_same_file_changes_nothing(db: str, tmp_path: Path) -> None:
    _export(db, tmp_path / "out")
    answers = {f"D{CALL}2": {VERDICT_COL: "更正", CHAIN_COL: "EC-BATT", REVIEWER_COL: "张三"}}
    filled = _fill(tmp_path / "out" / f"review-{CALL}-EC-BATT.xlsx", tmp_path / "z.xlsx", answers)
    assert _import(db, filled).exit_code == 0
    with _library(db) as library:
        before = (library.events(), library.corrections(), library.human_mappings(), library.demands())
    again = _import(db, filled)
    assert again.exit_code == 0 and "应用 0 条" in again.output and "写入记录 0 条" in again.output
    with _library(db) as library:
        after = (library.events(), library.corrections(), library.human_mappings(), library.demands())
    for old, new in zip(before, after, strict=True):
        pd.testing.assert_frame_equal(old, new)


def test_csv_by_external_id_resolves_unique_ids_and_asks_for_the_call_otherwise(db: str, tmp_path: Path) -> None:
    with _library(db) as library:  # a second call reuses the external ids A-1..A-4
        run = library.start_run("c2027", "cfg", "tax", "use")
        library.save_call(run, _demands("c2027"), pd.DataFrame())
    header = ["external_id", "industry_id", "chain_id", "reviewer", "note"]
    path = _csv(
        tmp_path / "更正.csv", header, [["A-4", "", "EM-NEV", "王五", "确认"], ["=A-3", "AM", "NONE", "王五", ""]]
    )
    ambiguous = _import(db, path)
    assert ambiguous.exit_code == 0
    assert ambiguous.output.count("请用 --call 指定批次") == 2 and "“external_id”列（A）" in ambiguous.output
    resolved = _import(db, path, extra=("--call", "c2027"))
    assert resolved.exit_code == 0 and "应用 2 条" in resolved.output, resolved.output
    with _library(db) as library:
        assert sorted(library.human_mappings()[s.DEMAND_ID]) == ["Dc20273", "Dc20274"]
        unique = _csv(tmp_path / "u.csv", ["demand_id", "chain_id", "reviewer"], [[f"D{CALL}4", "EM-NEV", "王五"]])
    assert "应用 1 条" in _import(db, unique).output


def test_invalid_rows_are_reported_row_by_row_and_never_applied(db: str, tmp_path: Path) -> None:
    header = ["demand_id", "industry_id", "chain_id", "reviewer", "note"]
    rows = [
        [f"D{CALL}1", "EC", "XX-NOPE", "张三", ""],  # row 2: unknown chain
        [f"D{CALL}1", "EI", "EC-BATT", "张三", ""],  # row 3: industry / chain mismatch
        ["D-missing", "EC", "EC-BATT", "张三", ""],  # row 4: unknown demand
        [f"D{CALL}2", "EC", "EC-BATT", "", ""],  # row 5: no reviewer
        [f"D{CALL}2", "QQ", "NONE", "张三", ""],  # row 6: unknown industry
        [f"D{CALL}4", "", "EM-NEV", "张三", "valid"],  # row 7: valid (industry from the chain)
    ]
    result = _import(db, _csv(tmp_path / "bad.csv", header, rows))
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("未导入")]
    assert len(lines) == 5
    assert "bad.csv 第 2 行 “chain_id”列（C）：未知产业链编号“XX-NOPE”" in lines[0]
    assert "第 3 行" in lines[1] and "不匹配" in lines[1]
    assert "第 4 行 “demand_id”列（A）" in lines[2] and "未知需求" in lines[2]
    assert "第 5 行 “reviewer”列（D）" in lines[3] and "缺少审核人" in lines[3]
    assert "第 6 行" in lines[4] and "未知产业编号“QQ”" in lines[4]
    assert "应用 1 条" in result.output and "无效 5 条" in result.output
    with _library(db) as library:
        assert library.human_mappings()[s.DEMAND_ID].tolist() == [f"D{CALL}4"]
        assert library.events(kind="correction").empty
    assert _demand(db, f"D{CALL}2")[s.CHAIN_ID] == "AM-CHEMMAT"


def test_workbook_rows_without_verdict_are_skipped_and_bad_verdicts_reported(db: str, tmp_path: Path) -> None:
    _export(db, tmp_path / "out")
    answers = {
        f"D{CALL}2": {VERDICT_COL: "同意", REVIEWER_COL: "李四"},
        f"D{CALL}1": {NOTE_COL: "看不懂", REVIEWER_COL: "李四"},
    }
    filled = _fill(tmp_path / "out" / f"review-{CALL}-EC-BATT.xlsx", tmp_path / "l.xlsx", answers)
    result = _import(db, filled)
    assert result.exit_code == 0
    assert "“审核结论”列（T）：审核结论应为“确认”或“更正”" in result.output
    assert "未选择审核结论" in result.output and "应用 0 条" in result.output


# --- conflicts and arbitration ----------------------------------------------------------------------------
def test_two_reviewers_disagreeing_produce_an_arbitration_list_not_last_import_wins(db: str, tmp_path: Path) -> None:
    header = ["demand_id", "industry_id", "chain_id", "reviewer", "note"]
    zhang = _csv(tmp_path / "zhang.csv", header, [[f"D{CALL}2", "EC", "EC-BATT", "张三", "储能电池"]])
    li = _csv(tmp_path / "li.csv", header, [[f"D{CALL}2", "AM", "AM-CHEMMAT", "李四", "是材料"]])
    result = _import(db, zhang, li)
    assert result.exit_code == 0 and "待仲裁 2 条" in result.output
    assert _demand(db, f"D{CALL}2")[s.CHAIN_ID] == "AM-CHEMMAT"  # kept its previous value
    with _library(db) as library:
        table = library.arbitration()
        assert table[[m.REVIEWER, s.CHAIN_ID]].values.tolist() == [["张三", "EC-BATT"], ["李四", "AM-CHEMMAT"]]
        assert set(table["current_chain_id"]) == {"AM-CHEMMAT"} and library.human_mappings().empty
        assert len(library.events(kind="conflict")) == 2
    listing = _cli("review", "arbitration", "--db", db, "--out", str(tmp_path / "arb.csv"))
    assert listing.exit_code == 0 and "暂保持 AM/AM-CHEMMAT" in listing.output and "张三：EC/EC-BATT" in listing.output
    assert pd.read_csv(tmp_path / "arb.csv", encoding="utf-8-sig")[s.DEMAND_ID].tolist() == [f"D{CALL}2"] * 2
    # 李四 changes their mind: their own correction is updated, the reviewers agree, the demand follows
    agreed = _csv(tmp_path / "li2.csv", header, [[f"D{CALL}2", "EC", "EC-BATT", "李四", "同意"]])
    assert "应用 1 条" in _import(db, agreed).output
    assert _demand(db, f"D{CALL}2")[s.CHAIN_ID] == "EC-BATT"
    with _library(db) as library:
        assert library.arbitration().empty
        assert library.human_mappings()[m.REVIEWER].tolist() == ["张三、李四"]
        assert len(library.corrections()) == 2
    assert "没有待仲裁的需求" in _cli("review", "arbitration", "--db", db).output


def test_a_later_disagreement_keeps_the_earlier_decision_until_an_arbiter_decides(db: str, tmp_path: Path) -> None:
    header = ["demand_id", "chain_id", "reviewer"]
    assert "应用 1 条" in _import(db, _csv(tmp_path / "a.csv", header, [[f"D{CALL}2", "EC-BATT", "张三"]])).output
    disputed = _import(db, _csv(tmp_path / "b.csv", header, [[f"D{CALL}2", "EM-NEV", "李四"]]))
    assert "待仲裁 1 条" in disputed.output
    assert _demand(db, f"D{CALL}2")[s.CHAIN_ID] == "EC-BATT"
    ruling = _csv(tmp_path / "ruling.csv", header, [[f"D{CALL}2", "EM-NEV", "王主任"]])
    assert "应用 1 条" in _import(db, ruling, extra=("--arbitrate",)).output
    row = _demand(db, f"D{CALL}2")
    assert (row[s.INDUSTRY_ID], row[s.CHAIN_ID]) == ("EM", "EM-NEV")
    with _library(db) as library:
        assert library.arbitration().empty
        assert library.events(kind="correction")[m.ACTOR].tolist()[-2:] == ["王主任", "王主任"]


# --- unreadable files -------------------------------------------------------------------------------------
def test_an_unreadable_file_exits_2_and_the_readable_ones_are_still_applied(db: str, tmp_path: Path) -> None:
    corrupt = tmp_path / "坏.xlsx"
    corrupt.write_bytes(b"PK\x03\x04 not really a workbook")
    headerless = _csv(tmp_path / "nohead.csv", ["a", "b"], [["1", "2"]])
    good = _csv(tmp_path / "ok.csv", ["demand_id", "chain_id", "reviewer"], [[f"D{CALL}4", "EM-NEV", "王五"]])
    result = _import(db, corrupt, tmp_path / "missing.csv", headerless, good)
    assert result.exit_code == 2
    assert "无法读取文件 坏.xlsx" in result.output and "无法读取文件 missing.csv" in result.output
    assert "无法读取文件 nohead.csv：找不到复核表头" in result.output
    assert "Traceback" not in result.output and "应用 1 条" in result.output


# --- pure parts -------------------------------------------------------------------------------------------
def _p(reviewer: str, chain: str, at: str, role: str = REVIEWER_ROLE) -> Proposal:
    return Proposal(reviewer, role, chain.split("-")[0], chain, "", at)


def test_decide() -> None:
    assert decide([_p("a", "EC-BATT", "1")]) == _p("a", "EC-BATT", "1")
    agreed = decide([_p("a", "EC-BATT", "1"), _p("b", "EC-BATT", "2")])
    assert agreed is not None and agreed.reviewer == "a、b" and agreed.at == "2"
    assert decide([_p("a", "EC-BATT", "1"), _p("b", "EM-NEV", "2")]) is None
    ruled = [_p("a", "EC-BATT", "1"), _p("b", "EM-NEV", "2"), _p("c", "EM-NEV", "3", ARBITER_ROLE)]
    assert decide(ruled) == ruled[2]
    assert decide([*ruled, _p("a", "EC-BATT", "4")]) is None  # a later, different proposal reopens it
    assert decide([]) is None


def test_apply_human_decisions_is_pure_and_shows_the_decision() -> None:
    demands = _demands().assign(**{s.INDUSTRY: "先进材料", s.CHAIN: "化工新材料"})
    human = pd.DataFrame(
        {s.DEMAND_ID: [f"D{CALL}2", "D-elsewhere"], s.INDUSTRY_ID: ["EC", "EM"], s.CHAIN_ID: ["EC-BATT", "EM-NEV"]}
    ).assign(**{m.REVIEWER: "张三", m.AT: "2026-11-20T08:00:00+00:00"})
    before = demands.copy()
    shown = apply_human_decisions(demands, human, default_taxonomy()).set_index(s.DEMAND_ID)
    pd.testing.assert_frame_equal(demands, before)
    row = shown.loc[f"D{CALL}2"]
    assert (row[s.INDUSTRY_ID], row[s.CHAIN_ID], row[s.INDUSTRY], row[s.CHAIN]) == (
        "EC",
        "EC-BATT",
        "能源化工",
        "动力电池(锂电)",
    )
    assert (row[s.EVIDENCE], row[s.NEEDS_REVIEW], row[s.REVIEW_REASON]) == ("人工更正：张三 2026-11-20", False, "")
    assert shown.loc[f"D{CALL}3", s.EVIDENCE] == "判定：先进材料"  # untouched
    assert shown[s.NEEDS_REVIEW].dtype == bool
    assert apply_human_decisions(demands, human.iloc[:0]).equals(demands)


def test_python_api_reports_what_it_did(db: str, taxonomy: Taxonomy) -> None:
    with _library(db) as library:
        report = library.apply_corrections(
            [
                Correction(f"D{CALL}3", "NONE", "", "赵六", note="不属于六大产业"),
                Correction(f"D{CALL}3", "FT", "FT-FOOD", "赵六"),  # the same reviewer twice, differently
                Correction(f"D{CALL}1", "EC", "EC-BATT", "赵六"),
                Correction(f"D{CALL}1", "EC", "EC-BATT", "赵六"),  # a duplicate row: skipped
            ],
            taxonomy,
        )
    assert (report.applied, report.skipped, report.conflicts, len(report.problems)) == (1, 1, 0, 2)
    assert "给出了不同的结论" in str(report.problems[0])
    assert alternative_chains("EC/EC-BATT:0.3;AM/NONE:0.1") == ["EC-BATT", "NONE"]
    assert alternative_chains("EC-BATT:0.3") == ["EC-BATT"] and alternative_chains(None) == []


def test_a_v1_library_gets_the_corrections_tables(library_url: str) -> None:
    url = library_url
    engine = m.create_engine(url)
    assert m.migrate(engine, target=1) == [1]
    engine.dispose()
    with Library.open(url) as library:
        assert library.schema_version() >= 2  # 2 adds the tables; later migrations follow
        assert library.human_mappings().empty and library.arbitration().empty
    tables = set(sa.inspect(sa.create_engine(url)).get_table_names())
    assert {"corrections", "human_mapping"} <= tables
