"""The draft list in the department's format (需求清单): demand_list.xlsx and demand_list.docx.

Columns: 序号, 需求名称, 所属产业/产业链, 主要内容, 提出企业数, 评分 (综合 / 紧迫度 / 难易度 / 市场推广), 提出企业,
备注. One section per chain (industries in their usual order), its entries ordered by their rank within the chain;
entries of one coarser cluster group (two or more entries of the chain) sit together under the group's label, the
group placed at its best-ranked entry. Entries staff rejected (entry_status 不采纳) are left out.

主要内容 is extractive: the first one or two sentences of the representative member's need (the member of the
largest duplicate group, then the longest text, then the smallest id), each followed by its source demand's own
number in brackets (the submitter's 需求编号, else the system id), so staff can see where every word came from.
Every text value goes through `safe.safe_text`; the workbook holds no formula.
"""

import math
import re
from collections.abc import Iterable, Sequence
from copy import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape as xml_escape

import pandas as pd

from . import schema as s
from .normalize import strip_boilerplate
from .safe import is_missing, safe_text
from .workbook import industry_of, industry_rank, set_cell

REJECTED = "不采纳"  # decisions.ENTRY_STATUS value of an entry staff rejected
TOP_HEADERS = ("序号", "需求名称", "所属产业/产业链", "主要内容", "提出企业数", "评分", "提出企业", "备注")
SCORE_HEADERS = ("综合", "紧迫度", "难易度", "市场推广")
# the flat column list (评分 spans four columns), as written in the second header row
HEADERS = (*TOP_HEADERS[:5], *SCORE_HEADERS, *TOP_HEADERS[6:])
SCORE_SOURCES = ("score_total", "score_urgency", "score_difficulty", "score_market")
MAX_SENTENCES = 2
MAX_CONTENT_CHARS = 120  # the second sentence is added when both together are no longer than this
MAX_SENTENCE_CHARS = 160  # a longer sentence is cut, marked with "…"
MAX_DOCX_ENTRIES_PER_CHAIN = 300  # the .docx lists a chain's best-ranked entries; the .xlsx lists all
# a sentence ends at 。！？； or a newline; ASCII ! ? ; end one only before a space or the end ("A0!B" goes on)
_SENTENCE_RE = re.compile(r"(?:[^。！？；!?;\n]|[!?;](?=\S))+[。！？；!?;]?")
# a form's section label opening a sentence ("需求背景：", "二、主要内容："), possibly several in a row
_LEAD_LABEL_RE = re.compile(r"^(?:[一二三四五六七八九十\d]*[、.．)）]?\s*[\u4e00-\u9fff]{2,8}\s*[:：]\s*)+")
_XML_ILLEGAL_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass(frozen=True)
class ListEntry:
    """One row of the list, display-ready (text not yet neutralised)."""

    entry_id: str
    title: str
    industry_chain: str
    content: str
    enterprise_count: int
    scores: tuple[float | None, ...]  # SCORE_SOURCES order; None when not scored
    enterprises: str
    note: str


@dataclass(frozen=True)
class ListBlock:
    """Entries shown together: a cluster group's entries under its label, or one entry on its own (label "")."""

    label: str
    entries: tuple[ListEntry, ...]


@dataclass(frozen=True)
class ListSection:
    """One chain of the list."""

    industry: str
    chain: str
    blocks: tuple[ListBlock, ...]

    @property
    def heading(self) -> str:
        return f"{self.industry} · {self.chain}"

    @property
    def size(self) -> int:
        return sum(len(b.entries) for b in self.blocks)


def build_demand_list(drafts: pd.DataFrame, demands: pd.DataFrame) -> list[ListSection]:
    """The list's sections: drafts (DRAFT_COLUMNS, scores and entry_status when present) and their member demands."""
    if drafts.empty:
        return []
    kept = drafts[_col(drafts, "entry_status").str.strip() != REJECTED]
    by_id = _members_by_id(demands)
    sections = []
    chain_key = [
        (industry_of(i, d), str(c) if not is_missing(c) else "", _str(n) or "（未对应产业链）")
        for i, d, c, n in zip(kept[s.INDUSTRY], kept[s.INDUSTRY_ID], kept[s.CHAIN_ID], kept[s.CHAIN], strict=True)
    ]
    frame = kept.assign(_order=range(len(kept)))
    positions: dict[tuple[str, str, str], list[int]] = {}
    for position, key in enumerate(chain_key):
        positions.setdefault(key, []).append(position)
    for key in sorted(positions, key=_chain_order):
        industry, _, chain = key
        part = frame.iloc[positions[key]]
        part = part.assign(_rank=_ranks(part)).sort_values(["_rank", "_order"], kind="stable")
        entries = [_entry({str(k): v for k, v in row.items()}, by_id) for row in part.to_dict("records")]
        sections.append(ListSection(industry, chain, _blocks(part, entries)))
    return sections


def key_sentences(text: str, source: str, title: str = "") -> str:
    """The first one or two sentences of a need (the second when both fit in MAX_CONTENT_CHARS), form labels and
    the enterprise's self-description left out, each followed by "【source】"; the title when there is no text."""
    body = strip_boilerplate(_CONTROL_RE.sub("", str(text or "")).replace("\r", "\n"))
    sentences = [_LEAD_LABEL_RE.sub("", m.group(0).strip()).strip() for m in _SENTENCE_RE.finditer(body)]
    sentences = [x for x in sentences if len(x.strip("。！？!?；; ")) > 1]
    if not sentences and str(title or "").strip():
        sentences = [str(title).strip()]
    chosen = sentences[:1]
    if len(sentences) > 1 and len(sentences[0]) + len(sentences[1]) <= MAX_CONTENT_CHARS:
        chosen = sentences[:MAX_SENTENCES]
    cut = [x if len(x) <= MAX_SENTENCE_CHARS else x[: MAX_SENTENCE_CHARS - 1] + "…" for x in chosen]
    mark = f"【{source}】" if source else ""
    return "".join(f"{x}{mark}" for x in cut)


def representative(members: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """The member whose duplicate group is largest, then the longest text, then the smallest id (as drafts do)."""
    if not members:
        return None
    groups: dict[str, int] = {}
    for m in members:
        group = _str(m.get(s.DUPLICATE_GROUP))
        if group:
            groups[group] = groups.get(group, 0) + 1

    def key(m: dict[str, Any]) -> tuple[int, int, str]:
        group = _str(m.get(s.DUPLICATE_GROUP))
        text = _str(m.get(s.CORE_TEXT)) or _str(m.get(s.TEXT))
        return (-groups.get(group, 1), -len(text), _str(m.get(s.DEMAND_ID)))

    return min(members, key=key)


def source_label(member: dict[str, Any]) -> str:
    """The number staff find a demand by: the submitter's 需求编号, else the system demand id."""
    return _str(member.get(s.EXTERNAL_ID)) or _str(member.get(s.DEMAND_ID))


def main_content(member_ids: Iterable[str], by_id: dict[str, dict[str, Any]]) -> str:
    """主要内容 of an entry: its representative member's key sentences with their source number."""
    rep = representative([by_id[i] for i in member_ids if i in by_id])
    if rep is None:
        return ""
    return key_sentences(_str(rep.get(s.TEXT)), source_label(rep), _str(rep.get(s.TITLE)))


def _members_by_id(demands: pd.DataFrame) -> dict[str, dict[str, Any]]:
    columns = [c for c in (s.DEMAND_ID, s.EXTERNAL_ID, s.TITLE, s.TEXT, s.CORE_TEXT, s.DUPLICATE_GROUP) if c in demands]
    if s.DEMAND_ID not in columns:
        return {}
    records = demands[columns].to_dict("records")
    return {str(r[s.DEMAND_ID]): {str(k): v for k, v in r.items()} for r in records}


def split_member_ids(value: object) -> list[str]:
    return [i for i in _str(value).split(";") if i]


def _entry(row: dict[str, Any], by_id: dict[str, dict[str, Any]]) -> ListEntry:
    industry = industry_of(row.get(s.INDUSTRY), row.get(s.INDUSTRY_ID))
    chain = _str(row.get(s.CHAIN))
    return ListEntry(
        entry_id=_str(row.get(s.ENTRY_ID)),
        title=_str(row.get("draft_title")),
        industry_chain=f"{industry}/{chain}" if chain else industry,
        content=main_content(split_member_ids(row.get("member_ids")), by_id),
        enterprise_count=int(_number(row.get("enterprise_count")) or 0),
        scores=tuple(_number(row.get(c)) for c in SCORE_SOURCES),
        enterprises=_str(row.get("enterprises")),
        note=_note(row),
    )


def _note(row: dict[str, Any]) -> str:
    parts = [f"条目编号 {_str(row.get(s.ENTRY_ID))}"]
    rank = _number(row.get("score_rank"))
    if rank is not None:
        parts.append(f"链内第 {int(rank)} 名")
    if status := _str(row.get("entry_status")):
        parts.append(f"审核状态：{status}")
    members = int(_number(row.get("member_count")) or 0)
    if members > 1:
        parts.append(f"需求 {members} 条")
    if recurring := int(_number(row.get("recurring_members")) or 0):
        parts.append(f"往期已提出 {recurring} 条")
    if review := int(_number(row.get("needs_review_count")) or 0):
        parts.append(f"待复核 {review} 条")
    if regions := _str(row.get("regions")):
        parts.append(f"所在市州：{regions}")
    funding = _number(row.get("funding_total"))
    if funding:
        parts.append(f"拟投入资金合计 {funding:g} 万元")
    return "；".join(parts)


def _blocks(part: pd.DataFrame, entries: list[ListEntry]) -> tuple[ListBlock, ...]:
    """Entries (rank order) into blocks: a group with two or more entries together at its best entry's place."""
    groups = _col(part, s.CLUSTER_GROUP).tolist()
    labels = _col(part, s.CLUSTER_GROUP_LABEL).tolist()
    counts = pd.Series(groups, dtype=object).value_counts().to_dict()
    group_label = {g: lb for g, lb in zip(groups, labels, strict=True) if g and lb}
    order: list[tuple[str, list[ListEntry]]] = []  # (label, entries); a group's list is shared while filling
    of_group: dict[str, list[ListEntry]] = {}
    for entry, group in zip(entries, groups, strict=True):
        if group and counts.get(group, 0) >= 2:
            if group not in of_group:
                of_group[group] = []
                order.append((f"上层群组：{group_label.get(group, group)}", of_group[group]))
            of_group[group].append(entry)
        else:
            order.append(("", [entry]))
    return tuple(ListBlock(label, tuple(members)) for label, members in order)


def _ranks(part: pd.DataFrame) -> list[float]:
    if "score_rank" not in part.columns:
        return [0.0] * len(part)
    return [math.inf if (n := _number(v)) is None else n for v in part["score_rank"]]


def _chain_order(key: tuple[str, str, str]) -> tuple[tuple[int, str], str, str]:
    industry, chain_id, chain = key
    return (industry_rank(industry), chain_id, chain)


def _col(frame: pd.DataFrame, column: str) -> pd.Series:
    if column not in frame.columns:
        return pd.Series("", index=frame.index, dtype=object)
    return frame[column].map(_str)


def _str(value: object) -> str:
    return "" if is_missing(value) else str(value)


def _number(value: object) -> float | None:
    if is_missing(value) or isinstance(value, bool) or value == "":
        return None
    try:
        number = float(str(value))
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


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
