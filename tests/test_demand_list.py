"""The draft list in the department's format: demand_list.xlsx and demand_list.docx (需求清单)."""

from pathlib import Path

import docx
import openpyxl
import pandas as pd
import pytest

from pipelines import schema as s
from pipelines.demand_list import HEADERS, build_demand_list, key_sentences
from pipelines.demand_list_files import write_demand_list_docx, write_demand_list_xlsx
from pipelines.report import write_outputs
from pipelines.safe import FORMULA_PREFIXES
from tests.test_report import CMD, D8_TEXT, IMG, make_bundle, scored_bundle

TOP = ["序号", "需求名称", "所属产业/产业链", "主要内容", "提出企业数", "评分", None, None, None, "提出企业", "备注"]
SUB = [None, None, None, None, None, "综合", "紧迫度", "难易度", "市场推广", None, None]


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_outputs(scored_bundle(), tmp_path_factory.mktemp("out"))


def _xlsx_rows(path: Path) -> list[tuple[object, ...]]:
    return list(openpyxl.load_workbook(path).active.iter_rows(values_only=True))  # type: ignore[union-attr]


def test_sections_per_chain_ranked_grouped_and_rejected_left_out() -> None:
    bundle = scored_bundle()
    sections = build_demand_list(bundle.drafts, bundle.demands)
    assert [x.heading for x in sections] == [
        "电子信息 · 集成电路",
        "装备制造 · 航空航天",
        "六大产业之外 · （未对应产业链）",
    ]  # 新型显示 held only S9, which staff rejected
    blocks = sections[0].blocks
    assert [(b.label, [e.entry_id for e in b.entries]) for b in blocks] == [
        ("上层群组：芯片、封装", ["S8", "C1"]),  # the group sits at its best entry (rank 1) and keeps C1 (rank 3)
        ("", ["S11"]),
    ]
    first = blocks[0].entries[0]
    assert first.scores == (80.5, 72.0, 55.0, 66.0) and first.industry_chain == "电子信息/集成电路"
    assert "链内第 1 名" in first.note and "往期已提出 1 条" in first.note and "条目编号 S8" in first.note


def test_main_content_is_extractive_with_source_numbers() -> None:
    assert key_sentences(D8_TEXT, "XQ-008") == "需要开发12英寸晶圆减薄设备。【XQ-008】厚度均匀性≤1μm；【XQ-008】"
    long = "甲" * 90 + "。" + "乙" * 50 + "。"
    assert key_sentences(long, "X") == "甲" * 90 + "。【X】"  # the second sentence would make it too long
    assert key_sentences("需求内容：需求背景：需要一台设备。", "X") == "需要一台设备。【X】"
    assert key_sentences("", "D1", "只有标题") == "只有标题【D1】"
    bundle = scored_bundle()
    sections = build_demand_list(bundle.drafts, bundle.demands)
    words = {e.entry_id: e.content for x in sections for b in x.blocks for e in b.entries}
    assert (words["S11"].endswith("【=XQ-11】") and words["S3"].endswith("【D3】")) or words["S3"] == ""


def test_xlsx_columns_order_and_no_formula(outputs: dict[str, Path]) -> None:
    rows = _xlsx_rows(outputs["demand_list.xlsx"])
    assert rows[0][0] == "需求清单（草稿）— call-1"
    assert list(rows[2]) == TOP and list(rows[3]) == SUB
    assert [h for h in TOP[:5] + SUB[5:9] + TOP[9:] if h] == list(HEADERS)
    entries = [r for r in rows[4:] if isinstance(r[0], int)]
    assert [r[0] for r in entries] == [1, 2, 3, 4, 5]
    assert [r[1] for r in entries] == [
        "大条目",
        "'" + '=HYPERLINK("http://evil.example","点我")',
        "'" + CMD,
        "'-2+3",
        "'@SUM(1)",
    ]
    headings = [r[0] for r in rows[4:] if not isinstance(r[0], int)]
    assert headings == ["一、电子信息 · 集成电路（3 项）", "上层群组：芯片、封装", "二、装备制造 · 航空航天（1 项）",
                        "三、六大产业之外 · （未对应产业链）（1 项）"]  # fmt: skip
    s8 = entries[0]
    assert s8[4] == 1 and s8[5:9] == (80.5, 72.0, 55.0, 66.0) and isinstance(s8[5], float)
    assert s8[3] == "需要开发12英寸晶圆减薄设备。【XQ-008】厚度均匀性≤1μm；【XQ-008】"
    assert "显示" not in str(rows)  # the rejected entry is left out
    wb = openpyxl.load_workbook(outputs["demand_list.xlsx"])
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                assert cell.data_type != "f", cell.coordinate
                if isinstance(cell.value, str):
                    assert not cell.value.startswith(FORMULA_PREFIXES), (cell.coordinate, cell.value)


def test_cmd_payload_is_neutralised_in_both_files(outputs: dict[str, Path]) -> None:
    rows = _xlsx_rows(outputs["demand_list.xlsx"])
    s11 = next(r for r in rows if r[1] == "'" + CMD)
    assert s11[3] == "'" + CMD + "。【=XQ-11】第二句。【=XQ-11】"
    document = docx.Document(str(outputs["demand_list.docx"]))
    cells = [c.text for t in document.tables for r in t.rows for c in r.cells]
    assert "'" + CMD in cells and CMD not in cells
    assert all(not c.startswith(FORMULA_PREFIXES) for c in cells)
    assert IMG not in cells  # enterprises of S11 are 企业甲 in drafts; the member's name is not listed here


def test_docx_headings_tables_and_columns(outputs: dict[str, Path]) -> None:
    document = docx.Document(str(outputs["demand_list.docx"]))
    headings = [
        (p.style.name, p.text) for p in document.paragraphs if p.style is not None and "Heading" in p.style.name
    ]
    assert headings == [
        ("Heading 1", "一、电子信息 · 集成电路（3 项）"),
        ("Heading 2", "上层群组：芯片、封装"),
        ("Heading 1", "二、装备制造 · 航空航天（1 项）"),
        ("Heading 1", "三、六大产业之外 · （未对应产业链）（1 项）"),
    ]
    tables = document.tables
    assert len(tables) == 4  # the group's two entries; S11 on its own; one per other chain
    for table in tables:
        top, sub = ([c.text for c in r.cells] for r in table.rows[:2])
        assert top == [h or "评分" for h in TOP] and [h for h in sub] == [
            t if t else b for t, b in zip(SUB, TOP, strict=True)
        ]
    body = [[c.text for c in r.cells] for t in tables for r in t.rows[2:]]
    assert [r[0] for r in body] == ["1", "2", "3", "4", "5"]
    assert body[0][1] == "大条目" and body[0][5:9] == ["80.5", "72", "55", "66"]
    assert document.sections[0].page_width > document.sections[0].page_height  # landscape


def test_empty_list_files_open(tmp_path: Path) -> None:
    write_demand_list_xlsx("空批次", [], tmp_path / "a.xlsx")
    write_demand_list_docx("空批次", [], tmp_path / "a.docx")
    assert len(_xlsx_rows(tmp_path / "a.xlsx")) == 4
    assert "没有列入清单的条目" in "".join(p.text for p in docx.Document(str(tmp_path / "a.docx")).paragraphs)


def test_unscored_drafts_keep_their_order_and_leave_scores_empty() -> None:
    bundle = make_bundle()
    sections = build_demand_list(bundle.drafts, bundle.demands)
    first = sections[0].blocks
    assert [e.entry_id for b in first for e in b.entries] == ["C1", "S8"]
    assert first[0].entries[0].scores == (None, None, None, None)


def test_docx_caps_long_chains_but_numbers_stay_aligned(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import pipelines.demand_list_files as dl

    monkeypatch.setattr(dl, "MAX_DOCX_ENTRIES_PER_CHAIN", 2)
    bundle = scored_bundle()
    write_demand_list_docx("c", build_demand_list(bundle.drafts, bundle.demands), tmp_path / "x.docx")
    document = docx.Document(str(tmp_path / "x.docx"))
    numbers = [r.cells[0].text for t in document.tables for r in t.rows[2:]]
    assert numbers == ["1", "2", "4", "5"]  # S11 (3) left out of the .docx, as the note says
    assert any("另有 1 项" in p.text for p in document.paragraphs)


def test_control_characters_do_not_break_either_file(tmp_path: Path) -> None:
    bundle = scored_bundle()
    drafts = bundle.drafts.copy()
    drafts.loc[0, "draft_title"] = "控制\x07字符\x0b"
    demands = bundle.demands.copy()
    demands.loc[demands[s.DEMAND_ID] == "D1", s.TEXT] = "含\x00控制字符的需求。"
    sections = build_demand_list(drafts, pd.DataFrame(demands))
    write_demand_list_xlsx("c", sections, tmp_path / "x.xlsx")
    write_demand_list_docx("c", sections, tmp_path / "x.docx")
    assert "控制字符" in str(_xlsx_rows(tmp_path / "x.xlsx"))
    assert "含控制字符的需求。" in str(
        [c.text for t in docx.Document(str(tmp_path / "x.docx")).tables for r in t.rows for c in r.cells]
    )


def test_main_content_merges_key_sentences_of_several_members_each_with_its_source() -> None:
    from pipelines.demand_list import main_content

    members = {
        "D1": {
            s.DEMAND_ID: "D1",
            s.EXTERNAL_ID: "A-1",
            s.TITLE: "钒电解液",
            s.TEXT: "开发高稳定性钒电解液。要求循环寿命≥20000次。",
            s.DUPLICATE_GROUP: "G1",
        },
        "D2": {
            s.DEMAND_ID: "D2",
            s.EXTERNAL_ID: "A-2",
            s.TITLE: "钒电解液",
            s.TEXT: "开发高稳定性钒电解液。要求循环寿命≥20000次。",
            s.DUPLICATE_GROUP: "G1",
        },
        "D3": {
            s.DEMAND_ID: "D3",
            s.EXTERNAL_ID: "B-7",
            s.TITLE: "电堆",
            s.TEXT: "提升全钒液流电池电堆功率密度至150mW/cm²以上。",
            s.DUPLICATE_GROUP: "",
        },
        "D4": {
            s.DEMAND_ID: "D4",
            s.EXTERNAL_ID: "C-3",
            s.TITLE: "钒电解液",
            s.TEXT: "开发高稳定性的钒电解液。",
            s.DUPLICATE_GROUP: "",
        },
    }
    content = main_content(["D1", "D2", "D3", "D4"], members)
    assert content.startswith("开发高稳定性钒电解液。【A-1】要求循环寿命≥20000次。【A-1】")  # the representative
    assert "提升全钒液流电池电堆功率密度至150mW/cm²以上。【B-7】" in content  # another member's key sentence
    assert "A-2" not in content and "C-3" not in content  # a copy and a near-repeat add nothing
