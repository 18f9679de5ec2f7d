"""read_submission: every format, encodings, header detection, and the whole-file failures (in Chinese)."""

import csv
import io
import json
import re
import zipfile
from pathlib import Path

import openpyxl
import pytest

from pipelines import readers
from pipelines import schema as s
from pipelines.errors import UnreadableFileError
from pipelines.readers import map_columns, read_submission
from pipelines.settings import IngestConfig

CONFIG = IngestConfig()
HEADER = ["需求名称", "需求描述", "企业名称"]
ROWS = [
    ["智能焊接机器人", "焊缝视觉识别，精度 0.1 mm。", "成都某某科技有限公司"],
    ["锂电池回收", "梯次利用检测", "遂宁某公司"],
]


def write_csv(path: Path, rows: list[list[str]], encoding: str = "utf-8") -> Path:
    buffer = io.StringIO(newline="")
    csv.writer(buffer).writerows(rows)
    path.write_bytes(buffer.getvalue().encode(encoding))
    return path


def write_xlsx(path: Path, rows: list[list[object]], notes_sheet: bool = False) -> Path:
    workbook = openpyxl.Workbook()
    if notes_sheet:  # a first sheet without a header: instructions only
        workbook.active.append(["填表说明：请勿修改表头"])
        workbook.create_sheet("需求")
        workbook.active = 1
    for row in rows:
        workbook.active.append(row)
    workbook.save(path)
    return path


def cells(table: readers.RawTable, column: str) -> list[str]:
    return [str(v) for v in table.rows[column]]


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk", "gb18030", "utf-16"])
def test_csv_encodings(tmp_path: Path, encoding: str) -> None:
    rows = [*ROWS, ["𠮷字需求", "GB18030 四字节字符 𠮷", ""]] if encoding in ("utf-8", "gb18030") else ROWS
    table = read_submission(write_csv(tmp_path / "需求.csv", [HEADER, *rows], encoding), CONFIG)
    assert table.header == tuple(HEADER)
    assert cells(table, "需求名称") == [r[0] for r in rows]
    assert list(table.rows[s.SOURCE_ROW]) == list(range(2, 2 + len(rows)))
    assert table.file_name == "需求.csv" and len(table.sha256) == 64


def test_csv_multiline_cell_is_one_spreadsheet_row_and_nul_bytes_removed(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_bytes('需求名称,需求描述\n甲,"第一行\n第二行"\n乙\x00,描述\n'.encode())
    table = read_submission(path, CONFIG)
    assert cells(table, "需求名称") == ["甲", "乙"]
    assert cells(table, "需求描述")[0] == "第一行\n第二行"
    assert list(table.rows[s.SOURCE_ROW]) == [2, 3]  # the row number Excel shows


def test_xlsx_header_on_row_3_and_blank_rows_not_read(tmp_path: Path) -> None:
    rows: list[list[object]] = [["四川省企业技术需求征集表"], [], HEADER, ROWS[0], [None, None, None], ROWS[1], []]
    table = read_submission(write_xlsx(tmp_path / "a.xlsx", rows), CONFIG)
    assert table.header == tuple(HEADER)
    assert list(table.rows[s.SOURCE_ROW]) == [4, 6]
    assert cells(table, "企业名称") == [ROWS[0][2], ROWS[1][2]]


def test_xlsx_first_sheet_with_a_header_is_used(tmp_path: Path) -> None:
    table = read_submission(write_xlsx(tmp_path / "a.xlsx", [HEADER, *ROWS], notes_sheet=True), CONFIG)
    assert cells(table, "需求名称") == [ROWS[0][0], ROWS[1][0]]


def test_xlsx_numbers_and_dates_become_plain_text(tmp_path: Path) -> None:
    import datetime as dt

    rows: list[list[object]] = [
        ["需求名称", "拟投入资金", "联系电话", "期望完成时间"],
        ["甲", 50.0, 13800000000, dt.datetime(2026, 6, 30)],
    ]
    table = read_submission(write_xlsx(tmp_path / "a.xlsx", rows), CONFIG)
    assert table.rows.iloc[0][["拟投入资金", "联系电话", "期望完成时间"]].tolist() == [
        "50",
        "13800000000",
        "2026-06-30",
    ]


def test_xlsx_formula_gives_cached_value_never_evaluated_and_text_formulas_kept(tmp_path: Path) -> None:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["需求名称", "需求描述", "拟投入资金"])
    sheet.append(["有缓存值", "描述", "=1+2"])
    sheet.append(["无缓存值", "描述", "=1+2"])
    for row, text in ((4, "=1+2"), (5, "<script>alert(1)</script>")):
        sheet.cell(row, 1).value = text
        sheet.cell(row, 1).data_type = "s"  # a text cell that merely looks like a formula
        sheet.cell(row, 2).value = "描述"
    workbook.save(tmp_path / "plain.xlsx")
    # openpyxl writes no cached values; give the first formula a cached value that is NOT its result
    with zipfile.ZipFile(tmp_path / "plain.xlsx") as src, zipfile.ZipFile(tmp_path / "f.xlsx", "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                # the empty value is written as <v />, <v/> or <v></v> depending on the XML backend
                data = re.sub(rb"<f>1\+2</f><v\s*/>|<f>1\+2</f><v></v>", b"<f>1+2</f><v>42</v>", data, count=1)
            dst.writestr(item, data)
    table = read_submission(tmp_path / "f.xlsx", CONFIG)
    assert cells(table, "拟投入资金") == ["42", "", "", ""]
    assert cells(table, "需求名称")[2:] == ["=1+2", "<script>alert(1)</script>"]


def test_jsonl_bad_lines_are_handed_on_with_their_line_numbers(tmp_path: Path) -> None:
    lines = [json.dumps({"title": "甲", "description": "描述", "funding": 50}), "{broken", "", "[1, 2]", "{}"]
    lines.append(json.dumps({"title": "乙", "tags": ["a"], "enterprise": None}, ensure_ascii=False))
    path = tmp_path / "a.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    table = read_submission(path, CONFIG)
    assert list(table.rows[s.SOURCE_ROW]) == [1, 6]
    assert cells(table, "funding") == ["50", ""]
    assert cells(table, "tags") == ["", '["a"]']
    assert [(r.source_row, r.raw) for r in table.rejected] == [(2, "{broken"), (4, "[1, 2]")]


def test_english_headers_and_header_notes_are_recognised() -> None:
    cmap = map_columns(["ID", "Title", "Description", "Credit Code", "拟投入资金（万元）", "*联系电话/手机", "备注"])
    assert cmap.fields == {
        s.EXTERNAL_ID: "ID",
        s.TITLE: "Title",
        s.CREDIT_CODE: "Credit Code",
        s.FUNDING: "拟投入资金（万元）",
        s.PHONE: "*联系电话/手机",
    }
    assert cmap.text == ("Description",)


def test_best_alias_wins_and_all_text_columns_are_kept() -> None:
    cmap = map_columns(["序号", "名称", "项目名称", "需求编号", "需求内容", "预期目标", "现有工作基础"])
    assert cmap.fields == {s.EXTERNAL_ID: "需求编号", s.TITLE: "项目名称"}
    assert cmap.text == ("需求内容", "预期目标", "现有工作基础")


def test_duplicate_and_blank_header_cells_get_unique_names(tmp_path: Path) -> None:
    rows = [["需求名称", "需求内容", "", "需求内容"], ["甲", "一", "附加", "二"]]
    table = read_submission(write_csv(tmp_path / "a.csv", rows), CONFIG)
    assert list(table.rows.columns) == ["需求名称", "需求内容", "第3列", "需求内容（2）", s.SOURCE_ROW]


def unreadable(path: Path) -> str:
    with pytest.raises(UnreadableFileError) as info:
        read_submission(path, CONFIG)
    assert info.value.path == path.name
    return info.value.reason


def test_whole_file_failures_have_chinese_reasons(tmp_path: Path) -> None:
    (tmp_path / "empty.csv").write_bytes(b"")
    (tmp_path / "fake.xlsx").write_text("需求名称,需求描述\n甲,乙\n", encoding="utf-8")
    (tmp_path / "a.txt").write_text("x", encoding="utf-8")
    (tmp_path / "old.xls").write_bytes(b"\xd0\xcf\x11\xe0")
    write_csv(tmp_path / "header_only.csv", [HEADER])
    write_csv(tmp_path / "no_cols.csv", [["企业名称", "联系人"], ["甲", "乙"]])
    write_xlsx(tmp_path / "real.xlsx", [HEADER, *ROWS]).rename(tmp_path / "real.csv")
    (tmp_path / "zip.xlsx").write_bytes(_zip_bytes())
    assert "0 字节" in unreadable(tmp_path / "empty.csv")
    assert "不存在" in unreadable(tmp_path / "missing.csv")
    assert "不是有效的 Excel .xlsx 文件" in unreadable(tmp_path / "fake.xlsx")
    assert "不支持的文件类型" in unreadable(tmp_path / "a.txt")
    assert "另存为 .xlsx" in unreadable(tmp_path / "old.xls")
    assert "没有数据行" in unreadable(tmp_path / "header_only.csv")
    assert unreadable(tmp_path / "no_cols.csv") == readers.NO_COLUMNS_REASON
    assert "ZIP" in unreadable(tmp_path / "real.csv")
    assert "文件已损坏" in unreadable(tmp_path / "zip.xlsx")


def _zip_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("word/document.xml", "<w/>")
    return buffer.getvalue()


def test_jsonl_without_any_object_and_oversized_file(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_text("not json\n[1]\n", encoding="utf-8")
    assert "没有一行是有效的 JSON 对象" in unreadable(tmp_path / "a.jsonl")
    write_csv(tmp_path / "big.csv", [HEADER, *ROWS])
    with pytest.raises(UnreadableFileError, match="超过上限"):
        read_submission(tmp_path / "big.csv", IngestConfig(max_file_mb=10 / 1048576))
