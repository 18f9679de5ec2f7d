"""canonicalize / ingest_files: accepted vs quarantined rows, flags, stable ids, and per-file reporting."""

import csv
import io
import json
import math
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines import ingest
from pipelines import schema as s
from pipelines.ingest import FLAG_LABELS, canonicalize, demand_id, derive_title, ingest_files, parse_funding
from pipelines.readers import RawTable
from pipelines.regions import SICHUAN_PREFECTURES, normalize_region
from pipelines.settings import IngestConfig

CONFIG = IngestConfig()
HEADER = ["需求编号", "需求名称", "需求描述", "企业名称", "所在市州", "拟投入资金（万元）", "统一社会信用代码", "备注"]


def table(rows: list[list[str]], header: list[str] = HEADER, name: str = "a.xlsx") -> RawTable:
    """A RawTable as read_submission builds it; rows are numbered from spreadsheet row 2."""
    frame = pd.DataFrame(rows, columns=header, dtype=str)
    frame[s.SOURCE_ROW] = list(range(2, 2 + len(rows)))
    return RawTable(name, "0" * 64, tuple(header), frame)


def row(ext: str = "", title: str = "", text: str = "", **extra: str) -> list[str]:
    return [ext, title, text, extra.get("ent", ""), extra.get("region", ""), extra.get("fund", ""), "", ""]


def write_csv(path: Path, rows: list[list[str]], encoding: str = "utf-8") -> Path:
    buffer = io.StringIO(newline="")
    csv.writer(buffer).writerows(rows)
    path.write_bytes(buffer.getvalue().encode(encoding))
    return path


def flags_of(demands: pd.DataFrame) -> list[set[str]]:
    return [set(f.split(";")) - {""} for f in demands[s.FLAGS]]


def test_title_only_and_text_only_rows_are_accepted_with_flags() -> None:
    text = "需要一种耐高温涂层材料，满足 800 度工况。现有材料寿命短"
    demands, quarantine = canonicalize(table([row(title="高温涂层"), row(text=text)]), "c", CONFIG)
    assert quarantine.empty
    by_row = demands.set_index(s.SOURCE_ROW)
    assert by_row.loc[2, s.TEXT] == "" and by_row.loc[2, s.FLAGS] == "no_description"
    assert (
        by_row.loc[3, s.TITLE] == "需要一种耐高温涂层材料，满足 800 度工况"
        and by_row.loc[3, s.FLAGS] == "title_derived"
    )


def test_row_with_neither_title_nor_text_is_quarantined_naming_row_and_columns() -> None:
    rows = [row(title="甲需求", text="乙需求"), row(ent="某公司", region="成都"), row(title="x", fund="10")]
    demands, quarantine = canonicalize(table(rows, name="需求.xlsx"), "c", CONFIG)
    assert len(demands) == 1
    first, second = quarantine.to_dict("records")
    assert (first[s.SOURCE_ROW], first["column"]) == (3, "需求名称、需求描述")
    assert first["reason"].startswith("文件 需求.xlsx 第 3 行：需求名称 与 需求描述 均为空，请补填")
    assert json.loads(first["raw"])["企业名称"] == "某公司"
    assert second[s.SOURCE_ROW] == 4 and "过短" in second["reason"]


def test_separate_text_columns_are_joined_as_sections() -> None:
    header = ["需求名称", "需求内容", "预期目标", "现有工作基础"]
    rows = [["甲需求", "研发新型传感器", "精度 1%", ""], ["乙需求", "", "", "已有样机"]]
    demands, _ = canonicalize(table(rows, header), "c", CONFIG)
    texts = dict(zip(demands[s.TITLE], demands[s.TEXT], strict=True))
    assert texts == {"甲需求": "需求内容：研发新型传感器\n预期目标：精度 1%", "乙需求": "现有工作基础：已有样机"}


def test_formula_like_and_script_text_are_kept_verbatim(tmp_path: Path) -> None:
    rows = [["需求名称", "需求描述"], ["=1+2", "<script>alert(1)</script>"], ["@SUM(A1)", "-2+3"]]
    result = ingest_files([write_csv(tmp_path / "a.csv", rows)], "c", CONFIG)
    assert set(result.demands[s.TITLE]) == {"=1+2", "@SUM(A1)"}
    assert set(result.demands[s.TEXT]) == {"<script>alert(1)</script>", "-2+3"}


def test_cells_are_stripped_and_capped() -> None:
    config = IngestConfig(max_cell_chars=10)
    demands, _ = canonicalize(table([row(title="  甲需求  ", text="长" * 25)]), "c", config)
    assert demands.loc[0, s.TITLE] == "甲需求" and demands.loc[0, s.TEXT] == "长" * 10
    assert demands.loc[0, s.FLAGS] == "cell_truncated"


@pytest.mark.parametrize(
    ("raw", "value", "flag"),
    [
        ("50", 50.0, None),
        ("50万", 50.0, None),
        ("50.5", 50.5, None),
        ("1,200", 1200.0, None),
        ("１，２００万元", 1200.0, None),
        ("约30万元左右", 30.0, None),
        ("500000元", 50.0, None),
        ("0.2亿", 2000.0, None),
        ("", math.nan, None),
        ("五十", math.nan, "funding_unreadable"),
        ("面议", math.nan, "funding_unreadable"),
        ("-5", math.nan, "funding_negative"),
    ],
)
def test_parse_funding(raw: str, value: float, flag: str | None) -> None:
    got, got_flag = parse_funding(raw)
    assert (math.isnan(got) and math.isnan(value)) or got == value
    assert got_flag == flag


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("成都", "成都市"),
        ("成都市武侯区", "成都市"),
        ("四川省成都市高新区", "成都市"),
        ("凉山州", "凉山彝族自治州"),
        ("阿坝州", "阿坝藏族羌族自治州"),
        ("甘孜州康定市", "甘孜藏族自治州"),
        ("峨眉山市", "乐山市"),
        ("  绵阳 ", "绵阳市"),
        ("北京市西城区广安门", None),
        ("重庆", None),
        ("", None),
    ],
)
def test_normalize_region(raw: str, expected: str | None) -> None:
    assert normalize_region(raw) == expected


def test_every_prefecture_maps_to_itself() -> None:
    assert len(SICHUAN_PREFECTURES) == 21
    assert all(normalize_region(name) == name for name in SICHUAN_PREFECTURES)


def test_field_flags_region_funding_credit_code() -> None:
    rows = [
        row(title="甲需求", text="一", region="四川省德阳市旌阳区", fund="五十"),
        row(title="乙需求", text="二", region="火星"),
    ]
    rows[0][6], rows[1][6] = "91510100ma61234567", "123"
    demands, _ = canonicalize(table(rows), "c", CONFIG)
    first, second = demands.sort_values(s.SOURCE_ROW).to_dict("records")
    assert (first[s.REGION], first[s.CREDIT_CODE], first[s.FLAGS]) == (
        "德阳市",
        "91510100MA61234567",
        "funding_unreadable",
    )
    assert (second[s.REGION], second[s.CREDIT_CODE]) == ("火星", "123")
    assert second[s.FLAGS] == "region_unrecognised;credit_code_invalid"
    assert set(FLAG_LABELS) >= {f for flags in flags_of(demands) for f in flags}


def test_unique_external_id_is_the_key() -> None:
    demands, _ = canonicalize(table([row("XQ-001", "甲需求", "一")], name="a.xlsx"), "call", CONFIG)
    assert demands.loc[0, s.DEMAND_ID] == demand_id("call", "a.xlsx", "XQ-001", "")
    assert demands.loc[0, s.DEMAND_ID].startswith("D") and len(demands.loc[0, s.DEMAND_ID]) == 17


def test_ambiguous_and_repeated_external_ids_are_flagged_and_keyed_by_content() -> None:
    rows = [
        row("1", "甲需求", "一"),
        row("1", "乙需求", "二"),
        row("2", "丙需求", "三"),
        row("2", "丙需求", "三"),
        row("3", "丁需求"),
    ]
    demands, _ = canonicalize(table(rows), "c", CONFIG)
    flags = dict(zip(demands[s.SOURCE_ROW], demands[s.FLAGS], strict=True))
    assert flags == {
        2: "external_id_ambiguous",
        3: "external_id_ambiguous",
        4: "external_id_repeated",
        5: "external_id_repeated",
        6: "no_description",
    }
    assert demands[s.DEMAND_ID].is_unique


MIXED_ROWS = [
    row("1", "甲需求", "一"),
    row("1", "乙需求", "二"),
    row("", "丙需求", "三", ent="A"),
    row("", "丙需求", "三", ent="B"),
    row("", "丙需求", "三", ent="B"),
    row("9", "丁需求", "四"),
    row("", "", "", ent="只有企业名"),
    row("", "戊需求"),
]


def ids_by_content(demands: pd.DataFrame) -> list[tuple[str, ...]]:
    return sorted(
        zip(demands[s.DEMAND_ID], demands[s.TITLE], demands[s.ENTERPRISE], demands[s.EXTERNAL_ID], strict=True)
    )


@settings(max_examples=30, deadline=None)
@given(st.permutations(MIXED_ROWS))
def test_reordering_rows_does_not_change_ids(rows: list[list[str]]) -> None:
    expected, _ = canonicalize(table(MIXED_ROWS), "c", CONFIG)
    shuffled, quarantine = canonicalize(table(rows), "c", CONFIG)
    assert ids_by_content(shuffled) == ids_by_content(expected)
    assert len(shuffled) + len(quarantine) == len(MIXED_ROWS)
    assert shuffled[s.DEMAND_ID].is_unique


def test_ingesting_twice_gives_identical_frames(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "a.csv", [HEADER, *MIXED_ROWS])
    first, second = (ingest_files([path], "c", CONFIG) for _ in range(2))
    pd.testing.assert_frame_equal(first.demands, second.demands)
    pd.testing.assert_frame_equal(first.quarantine, second.quarantine)


def test_ingest_files_counts_every_row_and_survives_bad_files(tmp_path: Path) -> None:
    good = write_csv(tmp_path / "good.csv", [HEADER, *MIXED_ROWS, [""] * 8], encoding="gbk")
    broken = tmp_path / "broken.xlsx"
    broken.write_text("这不是 Excel", encoding="utf-8")
    lines = [json.dumps({"title": "己需求", "text": "五"}, ensure_ascii=False), "{oops", json.dumps({"name": "庚需求"})]
    (tmp_path / "c.jsonl").write_text("\n".join(lines), encoding="utf-8")
    result = ingest_files([good, broken, tmp_path / "c.jsonl"], "c", CONFIG)
    files = result.files.set_index("file_name")
    assert files.loc["good.csv", ["rows_read", "accepted", "quarantined"]].tolist() == [8, 7, 1]
    assert files.loc["broken.xlsx", "rows_read"] == 0 and "Excel" in files.loc["broken.xlsx", "error"]
    # line 3 has "name" but the better-ranked "title" column (blank there) is the title column
    assert files.loc["c.jsonl", ["rows_read", "accepted", "quarantined"]].tolist() == [3, 1, 2]
    assert (files["rows_read"] == files["accepted"] + files["quarantined"]).all()
    bad_line = result.quarantine[result.quarantine[s.SOURCE_FILE] == "c.jsonl"].iloc[0]
    assert bad_line[s.SOURCE_ROW] == 2 and bad_line["reason"].startswith("文件 c.jsonl 第 2 行：不是有效的 JSON")
    assert json.loads(bad_line["raw"]) == {"line": "{oops"}
    assert list(result.demands.columns) == ingest.DEMAND_COLUMNS
    assert list(result.quarantine.columns) == s.QUARANTINE_EXPORT_COLUMNS
    assert result.demands[s.DEMAND_ID].is_monotonic_increasing and result.demands[s.DEMAND_ID].is_unique


def test_same_base_name_twice_gets_distinct_ids_and_identical_file_is_skipped(tmp_path: Path) -> None:
    (tmp_path / "x").mkdir()
    (tmp_path / "y").mkdir()
    first = write_csv(tmp_path / "x" / "需求.csv", [HEADER, row("1", "甲需求", "一")])
    second = write_csv(tmp_path / "y" / "需求.csv", [HEADER, row("1", "甲需求", "一"), row("2", "乙需求", "二")])
    copy = write_csv(tmp_path / "副本.csv", [HEADER, row("1", "甲需求", "一")])
    result = ingest_files([first, second, copy], "c", CONFIG)
    assert len(result.demands) == 3 and result.demands[s.DEMAND_ID].is_unique
    assert set(result.demands[s.SOURCE_FILE]) == {"需求.csv"}
    sha = result.files.loc[1, "sha256"]
    assert demand_id("c", f"需求.csv#{sha[:8]}", "1", "") in set(result.demands[s.DEMAND_ID])
    assert "内容完全相同" in result.files.loc[2, "error"] and result.files.loc[2, "rows_read"] == 0


def test_nothing_readable_gives_empty_frames_with_columns(tmp_path: Path) -> None:
    result = ingest_files([tmp_path / "missing.csv"], "c", CONFIG)
    assert result.demands.empty and list(result.demands.columns) == ingest.DEMAND_COLUMNS
    assert result.quarantine.empty and list(result.quarantine.columns) == s.QUARANTINE_EXPORT_COLUMNS
    assert result.files.loc[0, "error"] and result.files.loc[0, "sha256"] == ""


def test_derive_title_skips_labels_and_numbering() -> None:
    assert derive_title("一、需求内容：开发低成本氢燃料电池双极板。其他") == "开发低成本氢燃料电池双极板"
    assert len(derive_title("长" * 100)) == ingest.TITLE_FROM_TEXT_CHARS


# --- limits ------------------------------------------------------------------------------------------------------
def test_limits_refuse_with_a_message_naming_the_setting(tmp_path: Path) -> None:
    from pipelines.errors import CallTooLargeError

    rows = [HEADER, *([f"L-{i}", f"钒电池需求{i}", "开发电解液", "甲公司", "", "", "", ""] for i in range(30))]
    path = write_csv(tmp_path / "big.csv", rows)
    too_big = ingest_files([path], "c", IngestConfig(max_file_mb=0.0001)).files.set_index("file_name")
    assert "ingest.max_file_mb" in too_big.loc["big.csv", "error"]
    too_long = ingest_files([path], "c", IngestConfig(max_rows_per_file=10)).files.set_index("file_name")
    assert "10 行的上限" in too_long.loc["big.csv", "error"] and too_long.loc["big.csv", "rows_read"] == 0
    jsonl = tmp_path / "big.jsonl"
    jsonl.write_text("\n".join(json.dumps({"title": f"需求{i}"}) for i in range(30)), encoding="utf-8")
    assert (
        "ingest.max_rows_per_file"
        in ingest_files([jsonl], "c", IngestConfig(max_rows_per_file=10)).files.iloc[0]["error"]
    )
    with pytest.raises(CallTooLargeError, match=r"ingest\.max_rows_per_call"):
        ingest_files([path, jsonl], "c", IngestConfig(max_rows_per_call=40))
    assert len(ingest_files([path], "c", IngestConfig(max_rows_per_call=40)).demands) == 30
