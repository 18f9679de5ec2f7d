"""demand_list.xlsx and demand_list.docx: the sections of `demand_list.build_demand_list` in the department's
需求清单 layout (two header rows, 评分 over its four columns; a heading per chain and per cluster group).

Every text value goes through `safe.safe_text` (a `=cmd` stays text behind a "'"); the workbook holds no formula,
numbers are numeric cells; control characters are dropped.
"""

import re
from collections.abc import Sequence
from copy import copy
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape as xml_escape

from .demand_list import _CONTROL_RE, HEADERS, SCORE_HEADERS, TOP_HEADERS, ListBlock, ListEntry, ListSection
from .safe import safe_text
from .workbook import set_cell

MAX_DOCX_ENTRIES_PER_CHAIN = 300  # the .docx lists a chain's best-ranked entries; the .xlsx lists all
_XML_ILLEGAL_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def cell_text(value: str) -> str:
    """Text for a cell of either file: control characters dropped, formula-like text neutralised."""
    return safe_text(_CONTROL_RE.sub("", value))


def write_demand_list_xlsx(call_id: str, sections: Sequence[ListSection], path: Path) -> None:
    """demand_list.xlsx: one sheet 需求清单, title, note, a two-row header (评分 over its four columns), then per
    chain a heading row, per cluster group a sub-heading row, and a row per entry. No formula; numbers numeric."""
    from openpyxl import Workbook
    from openpyxl.cell.cell import Cell
    from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
    from openpyxl.utils import get_column_letter

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = SHEET
    last = get_column_letter(len(HEADERS))
    wrap = Alignment(wrap_text=True, vertical="top")
    center = Alignment(horizontal="center", vertical="center", wrap_text=True)
    thin = Side(style="thin", color="999999")
    border = Border(left=thin, right=thin, top=thin, bottom=thin)
    set_cell(ws.cell(row=1, column=1), f"需求清单（草稿）— {call_id}")
    ws.cell(row=1, column=1).font = Font(bold=True, size=14)
    ws.merge_cells(f"A1:{last}1")
    set_cell(ws.cell(row=2, column=1), INTRO)
    ws.cell(row=2, column=1).alignment = wrap
    ws.merge_cells(f"A2:{last}2")
    ws.row_dimensions[2].height = 45
    score_start = TOP_HEADERS.index("评分") + 1  # 1-based column of 综合
    for column, text in enumerate(HEADERS, start=1):
        in_scores = score_start <= column < score_start + len(SCORE_HEADERS)
        set_cell(ws.cell(row=HEADER_ROW, column=column), "评分" if in_scores else text)
        set_cell(ws.cell(row=HEADER_ROW + 1, column=column), text if in_scores else None)
        for row in (HEADER_ROW, HEADER_ROW + 1):
            cell = ws.cell(row=row, column=column)
            cell.font, cell.alignment, cell.border = Font(bold=True), center, border
            cell.fill = PatternFill("solid", fgColor="DDEBF7")
        if not in_scores:
            ws.merge_cells(start_row=HEADER_ROW, end_row=HEADER_ROW + 1, start_column=column, end_column=column)
        ws.column_dimensions[get_column_letter(column)].width = XLSX_WIDTHS[column - 1]
    ws.merge_cells(
        start_row=HEADER_ROW,
        end_row=HEADER_ROW,
        start_column=score_start,
        end_column=score_start + len(SCORE_HEADERS) - 1,
    )
    styles = []
    for column in range(1, len(HEADERS) + 1):
        proto = Cell(ws)
        proto.alignment, proto.border = wrap, border
        if score_start <= column < score_start + len(SCORE_HEADERS):
            proto.number_format = "0.0"
        styles.append(proto._style)
    row, number = HEADER_ROW + 2, 0
    for index, section in enumerate(sections, start=1):
        headings = [(f"{_chinese_number(index)}、{section.heading}（{section.size} 项）", "E2EFDA")]
        for block in section.blocks:
            if block.label:
                headings.append((block.label, "F2F2F2"))
            for text, colour in headings:
                set_cell(ws.cell(row=row, column=1), text)
                ws.cell(row=row, column=1).font = Font(bold=True)
                ws.cell(row=row, column=1).fill = PatternFill("solid", fgColor=colour)
                ws.merge_cells(f"A{row}:{last}{row}")
                row += 1
            headings = []
            for entry in block.entries:
                number += 1
                for column, value in enumerate(row_values(number, entry), start=1):
                    cell = ws.cell(row=row, column=column)
                    set_cell(cell, value)
                    cell._style = copy(styles[column - 1])  # shared style arrays: far faster than per-cell objects
                row += 1
    ws.freeze_panes = f"A{HEADER_ROW + 2}"
    ws.print_title_rows = f"{HEADER_ROW}:{HEADER_ROW + 1}"
    ws.page_setup.orientation = "landscape"
    ws.page_setup.fitToWidth, ws.page_setup.fitToHeight = 1, 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    wb.save(path)


SHEET = "需求清单"
HEADER_ROW = 3  # the two header rows are 3 and 4; entries start on row 5
XLSX_WIDTHS = (6, 28, 18, 60, 9, 7, 7, 7, 9, 30, 36)


def write_demand_list_docx(call_id: str, sections: Sequence[ListSection], path: Path) -> None:
    """demand_list.docx: landscape A4, a heading per chain and per cluster group, one table per run of entries."""
    from docx import Document
    from docx.enum.section import WD_ORIENT
    from docx.oxml.ns import qn
    from docx.shared import Cm, Pt

    doc = Document()
    sec = doc.sections[0]
    sec.orientation = WD_ORIENT.LANDSCAPE
    sec.page_width, sec.page_height = Cm(29.7), Cm(21.0)
    for side in ("left_margin", "right_margin", "top_margin", "bottom_margin"):
        setattr(sec, side, Cm(1.6))
    for style_name in ("Normal", "Title", "Heading 1", "Heading 2"):
        style = doc.styles[style_name]
        style.font.name = "SimSun"
        fonts = style.element.get_or_add_rPr().get_or_add_rFonts()
        fonts.set(qn("w:eastAsia"), "宋体")
    doc.styles["Normal"].font.size = Pt(10)
    doc.add_heading(cell_text(f"需求清单（草稿）— {call_id}"), level=0)
    doc.add_paragraph(INTRO)
    if not sections:
        doc.add_paragraph("没有列入清单的条目。")
    widths = (Cm(1.1), Cm(3.6), Cm(2.8), Cm(7.6), Cm(1.4), *(Cm(1.2),) * 4, Cm(4.0), Cm(3.4))
    number = 0
    for index, section in enumerate(sections, start=1):
        shown = _limit(section.blocks, MAX_DOCX_ENTRIES_PER_CHAIN)
        doc.add_heading(cell_text(f"{_chinese_number(index)}、{section.heading}（{section.size} 项）"), level=1)
        for label, entries in _runs(shown):
            if label:
                doc.add_heading(cell_text(label), level=2)
            table = doc.add_table(rows=2, cols=len(HEADERS))
            table.style = "Table Grid"
            _docx_header(table, widths)
            for entry in entries:
                number += 1
                _docx_row(table, _row_values(number, entry), widths)
        hidden = section.size - sum(len(b.entries) for b in shown)
        if hidden:
            number += hidden
            doc.add_paragraph(f"本产业链另有 {hidden} 项排名靠后的条目未列出，见 demand_list.xlsx。")
    doc.save(str(path))


INTRO = (
    "本清单由系统根据企业提交的技术需求自动凝练生成，为草稿，请人工审核。每个产业链内按综合评分排序；"
    "“主要内容”摘自代表需求的原文，方括号【】内为该句来源需求的编号（企业需求编号，缺省时为系统编号），"
    "可在 draft_list.xlsx 的“需求明细”表中查到原始需求。已“不采纳”的条目不列入。"
)


def _docx_header(table: Any, widths: Sequence[Any]) -> None:
    top, sub = table.rows[0].cells, table.rows[1].cells
    for row in (top, sub):
        for cell, width in zip(row, widths, strict=True):
            cell.width = width
    score_start = TOP_HEADERS.index("评分")
    for i, text in enumerate(TOP_HEADERS[:score_start]):
        top[i].merge(sub[i]).text = text
    top[score_start].merge(top[score_start + len(SCORE_HEADERS) - 1]).text = "评分"
    for j, text in enumerate(SCORE_HEADERS):
        sub[score_start + j].text = text
    for i, text in enumerate(TOP_HEADERS[score_start + 1 :], start=score_start + len(SCORE_HEADERS)):
        top[i].merge(sub[i]).text = text
    for row in table.rows[:2]:
        for cell in row.cells:
            for run in (r for p in cell.paragraphs for r in p.runs):
                run.bold = True


def _docx_row(table: Any, values: Sequence[object], widths: Sequence[Any]) -> None:
    """Append one row to the table as parsed XML (python-docx's object API costs ~6 ms a row; this ~0.1 ms)."""
    from docx.oxml import parse_xml
    from docx.oxml.ns import nsdecls

    cells = "".join(
        f'<w:tc><w:tcPr><w:tcW w:w="{width.twips}" w:type="dxa"/></w:tcPr><w:p><w:r>'
        f'<w:t xml:space="preserve">{_xml_text(value)}</w:t></w:r></w:p></w:tc>'
        for value, width in zip(values, widths, strict=True)
    )
    table._tbl.append(parse_xml(f"<w:tr {nsdecls('w')}>{cells}</w:tr>"))


def _xml_text(value: object) -> str:
    text = value if isinstance(value, str) else _score_text(value)
    return xml_escape(_XML_ILLEGAL_RE.sub("", text))


def _row_values(number: int, entry: ListEntry) -> list[str | int | float | None]:
    return [
        number,
        cell_text(entry.title),
        cell_text(entry.industry_chain),
        cell_text(entry.content),
        entry.enterprise_count,
        *entry.scores,
        cell_text(entry.enterprises),
        cell_text(entry.note),
    ]


def row_values(number: int, entry: ListEntry) -> list[str | int | float | None]:
    """The cells of one list row in HEADERS order: text neutralised, numbers as numbers, None when unscored."""
    return _row_values(number, entry)


def _score_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, int):
        return str(value)
    return f"{float(value):g}" if isinstance(value, float) else str(value)


def _runs(blocks: Sequence[ListBlock]) -> list[tuple[str, list[ListEntry]]]:
    """Consecutive unlabelled blocks share one table; a labelled block has its own heading and table."""
    runs: list[tuple[str, list[ListEntry]]] = []
    for block in blocks:
        if not block.label and runs and not runs[-1][0]:
            runs[-1][1].extend(block.entries)
        else:
            runs.append((block.label, list(block.entries)))
    return runs


def _limit(blocks: Sequence[ListBlock], limit: int) -> list[ListBlock]:
    out, left = [], limit
    for block in blocks:
        if left <= 0:
            break
        out.append(ListBlock(block.label, block.entries[:left]))
        left -= len(out[-1].entries)
    return out


def _chinese_number(n: int) -> str:
    digits = "零一二三四五六七八九"
    if n < 10:
        return digits[n]
    if n < 20:
        return "十" + (digits[n % 10] if n % 10 else "")
    if n < 100:
        return digits[n // 10] + "十" + (digits[n % 10] if n % 10 else "")
    return str(n)
