"""Fuzzed ingest: malformed CSV / xlsx / JSONL submissions never crash and never lose a row.

Bounded by sizes and example counts, not wall clocks (deadline=None). The default run generates about 1,200
inputs; `NINGLIANG_FUZZ_EXAMPLES=20000 .venv/bin/python -m pytest tests/test_fuzz_ingest.py` runs a longer campaign.

Invariant for every file: either it is reported unreadable with a Chinese reason (and no row of it is counted), or
every row read ends up accepted or quarantined (rows_read == accepted + quarantined), and every quarantined row names
its file, row and reason.
"""

import csv
import io
import os
import zipfile
from pathlib import Path

import openpyxl
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines.ingest import IngestResult, ingest_files
from pipelines.settings import IngestConfig

SCALE = max(1, int(os.environ.get("NINGLIANG_FUZZ_EXAMPLES", "1200")) // 1200)
CONFIG = IngestConfig(max_cell_chars=2_000)
HEADERS = ["需求编号", "需求名称", "需求描述", "企业名称", "拟投入资金（万元）", "所在市州", "联系人", "联系电话"]
FUZZ = settings(
    max_examples=300 * SCALE,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)

nasty_text = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [
            "",
            "=cmd|' /C calc'!A0",
            "+1+1",
            "@SUM(A1)",
            "<script>alert(1)</script>",
            "\x00\x00",
            '"unbalanced',
            "钒电池储能电解液制备技术",
            "１２３４５",
            "\r\n\t",
            "x" * 3_000,
        ]
    ),
    st.integers(-(10**12), 10**12).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
)
rows_strategy = st.lists(st.lists(nasty_text, min_size=0, max_size=10), min_size=0, max_size=8)


def _check(result: IngestResult, names: list[str]) -> None:
    files = result.files.set_index("file_name")
    counted = 0
    for name in names:
        if name not in files.index:
            continue  # a byte-identical duplicate of an earlier file is reported under that name's row
        row = files.loc[name]
        if row["error"]:
            assert row["rows_read"] == 0 and isinstance(row["error"], str) and row["error"].strip()
            continue
        assert row["rows_read"] == row["accepted"] + row["quarantined"], row.to_dict()
        counted += int(files.at[name, "accepted"])
    assert len(result.demands) == counted
    assert result.demands["demand_id"].is_unique
    if len(result.quarantine):
        assert result.quarantine["reason"].astype(str).str.len().gt(0).all()
        assert result.quarantine["source_file"].isin(names).all()


def _ingest(tmp_path: Path, name: str, data: bytes) -> None:
    folder = tmp_path / f"case{len(list(tmp_path.iterdir()))}"
    folder.mkdir()
    path = folder / name
    path.write_bytes(data)
    _check(ingest_files([path], "fuzz", CONFIG), [name])


def _csv_bytes(header: list[str], rows: list[list[str]], encoding: str) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerows([header, *rows])
    return buffer.getvalue().encode(encoding, errors="replace")


@FUZZ
@given(
    rows=rows_strategy,
    lead=st.integers(0, 3),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "gb18030", "utf-16"]),
    damage=st.sampled_from(["none", "nul", "quote", "truncate", "mixed"]),
)
def test_csv_submissions(
    tmp_path_factory: object, rows: list[list[str]], lead: int, encoding: str, damage: str
) -> None:
    tmp = tmp_path_factory.mktemp("csv")  # type: ignore[attr-defined]
    notes = [["填报说明：请勿修改表头"]] * lead  # the header is not on the first line when lead > 0
    data = _csv_bytes(notes[0] if notes else [], notes[1:], encoding) if lead else b""
    data += _csv_bytes(HEADERS, rows, encoding)
    if damage == "nul":
        data = data.replace(b",", b"\x00,", 3)
    elif damage == "quote":
        data = data + b'"dangling,"quote\n'
    elif damage == "truncate":
        data = data[: max(1, len(data) * 2 // 3)]
    elif damage == "mixed":
        data = data + "需求X,混合编码行\n".encode("gbk") + "需求Y,另一种\n".encode()
    _ingest(tmp, "征集表.csv", data)


def _xlsx_bytes(rows: list[list[str]], lead: int, merged: bool, formulas: bool) -> bytes:
    book = openpyxl.Workbook()
    ws = book.active
    assert ws is not None
    for _ in range(lead):
        ws.append(["四川省重大科技需求征集表"])
    ws.append(HEADERS)
    if merged:
        ws.merge_cells(start_row=lead + 1, start_column=1, end_row=lead + 1, end_column=2)
    for row in rows:
        ws.append([v.replace("\x00", "") if isinstance(v, str) else v for v in row])
    if formulas:
        ws.append(["F-1", "=SUM(1,2)", '=HYPERLINK("http://x","点我")', "=1/0"])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


@FUZZ
@given(
    rows=st.lists(st.lists(st.one_of(nasty_text, st.integers(), st.floats(allow_nan=False)), max_size=9), max_size=6),
    lead=st.integers(0, 3),
    merged=st.booleans(),
    formulas=st.booleans(),
    damage=st.sampled_from(["none", "none", "truncate", "flip", "zeros"]),
    cut=st.floats(0.05, 0.95),
)
def test_xlsx_submissions(
    tmp_path_factory: object, rows: list[list[object]], lead: int, merged: bool, formulas: bool, damage: str, cut: float
) -> None:
    tmp = tmp_path_factory.mktemp("xlsx")  # type: ignore[attr-defined]
    clean = [[_illegal_free(v) for v in row] for row in rows]
    data = _xlsx_bytes(clean, lead, merged, formulas)  # type: ignore[arg-type]
    at = int(len(data) * cut)
    if damage == "truncate":
        data = data[:at]
    elif damage == "flip":
        data = data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1 :]
    elif damage == "zeros":
        data = data[:at] + b"\x00" * 64 + data[at + 64 :]
    _ingest(tmp, "征集表.xlsx", data)


def _illegal_free(value: object) -> object:
    """openpyxl refuses control characters when *writing*; the reader must cope with what Excel can hold."""
    if isinstance(value, str):
        return "".join(ch for ch in value if ch in "\t\n\r" or ord(ch) >= 32)[:2_000]
    return value


@FUZZ
@given(
    lines=st.lists(
        st.one_of(
            st.fixed_dictionaries(
                {"需求名称": nasty_text, "需求描述": nasty_text},
                optional={"企业名称": nasty_text, "funding": st.one_of(st.integers(), st.floats(), st.none())},
            ).map(lambda d: __import__("json").dumps(d, ensure_ascii=False)),
            st.text(max_size=30),
            st.sampled_from(["{", "[]", "null", "42", '{"title": ["列表"]}', '{"title": {"x": 1}}']),
        ),
        max_size=8,
    )
)
def test_jsonl_submissions(tmp_path_factory: object, lines: list[str]) -> None:
    tmp = tmp_path_factory.mktemp("jsonl")  # type: ignore[attr-defined]
    _ingest(tmp, "征集表.jsonl", "\n".join(lines).encode("utf-8", errors="replace"))


@FUZZ
@given(
    payload=st.one_of(
        st.binary(max_size=2_000),
        st.sampled_from(
            [
                b"\x89PNG\r\n\x1a\n" + b"\x00" * 100,
                b"%PDF-1.7\n",
                b"PK\x03\x04" + b"\x00" * 50,
                b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100,  # an old .xls
                b"",
            ]
        ),
    ),
    name=st.sampled_from(["需求.xlsx", "需求.csv", "需求.jsonl", "需求.xls", "需求.docx", "需求"]),
)
def test_files_that_are_something_else(tmp_path_factory: object, payload: bytes, name: str) -> None:
    tmp = tmp_path_factory.mktemp("other")  # type: ignore[attr-defined]
    _ingest(tmp, name, payload)


def test_a_zip_bomb_and_a_huge_sheet_are_refused_or_read_in_bounds(tmp_path: Path) -> None:
    """A sheet XML that inflates to ~1 GB of blank cells must be refused or streamed, not loaded whole."""
    bomb = tmp_path / "bomb.xlsx"
    source = _xlsx_bytes([["B-1", "钒电池电解液", "开发高稳定性钒电解液"]], 0, False, False)
    with zipfile.ZipFile(io.BytesIO(source)) as original, zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as out:
        for item in original.infolist():
            data = original.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                filler = b"<row r='9'>" + b"<c r='A9'/>" * 1 + b"</row>"
                data = data.replace(b"</sheetData>", filler * 2_000_000 + b"</sheetData>")
            out.writestr(item, data)
    result = ingest_files([bomb], "fuzz", CONFIG)
    _check(result, ["bomb.xlsx"])
    row = result.files.set_index("file_name").loc["bomb.xlsx"]
    assert row["error"] or row["accepted"] == 1


def test_a_hundred_thousand_character_cell_is_truncated_and_flagged(tmp_path: Path) -> None:
    path = tmp_path / "long.csv"
    path.write_bytes(_csv_bytes(HEADERS, [["L-1", "超长描述的需求", "钒" * 100_000]], "utf-8"))
    result = ingest_files([path], "fuzz", CONFIG)
    _check(result, ["long.csv"])
    assert len(result.demands) == 1
    assert len(result.demands["text"].iloc[0]) <= CONFIG.max_cell_chars
    assert isinstance(result.demands, pd.DataFrame)
