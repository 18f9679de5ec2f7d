"""The draft demand list workbook (draft_list.xlsx) for government reviewers, in Chinese.

Sheets: "说明" (what this is, counts, how to review), one sheet per industry with the draft entries and
empty reviewer columns, "需求明细" (every accepted demand) and "隔离记录" (quarantined rows).
The workbook holds no formula: every text cell goes through `safe_text` and is stored as a string cell;
totals are written as values, numbers stay numeric cells, missing values stay empty cells.
"""

import numbers
import re
from collections.abc import Mapping, Sequence
from copy import copy
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE, Cell
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet

from . import schema as s
from .safe import is_missing, safe_text

OUTSIDE = "六大产业之外"
INDUSTRY_ORDER = ("电子信息", "装备制造", "食品轻纺", "能源化工", "先进材料", "医药健康", OUTSIDE)
REVIEW_CHOICES = ("采纳", "不采纳", "合并", "拆分", "改标题", "撤回", "待定")  # read back by pipelines.decisions
ENTRY_KIND_LABELS = {"cluster": "聚类", "duplicate_group": "重复组", "single": "单条"}
DUPLICATE_KIND_LABELS = {"exact": "完全重复", "near": "近似重复", "reworded": "改写重复"}
README_SHEET, DETAIL_SHEET, QUARANTINE_SHEET = "说明", "需求明细", "隔离记录"

_MAX_CELL_CHARS = 32_767  # Excel's limit for one cell
_BAD_SHEET_CHARS = re.compile(r"[\[\]:*?/\\]")
_WRAP = Alignment(wrap_text=True, vertical="top")
_HEADER_FONT = Font(bold=True)
_HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
_REVIEW_FILL = PatternFill("solid", fgColor="FFF2CC")


class Col(NamedTuple):
    """One exported column: source column (None for an empty reviewer column), Chinese header, width."""

    source: str | None
    header: str
    width: float
    number_format: str = "General"


DRAFT_SHEET_COLUMNS = (
    Col(s.ENTRY_ID, "条目编号", 20),
    Col(s.INDUSTRY, "产业", 10),
    Col(s.CHAIN, "产业链", 16),
    Col("entry_kind", "条目类型", 9),
    Col("draft_title", "拟定标题", 36),
    Col("label", "关键词", 22),
    Col(s.CLUSTER_GROUP_LABEL, "上层群组（关键词）", 22),
    Col("member_count", "需求条数", 9),
    Col("duplicate_rows", "重复条数", 9),
    Col("enterprise_count", "企业数", 8),
    Col("enterprises", "提出企业", 32),
    Col("regions", "所在市州", 16),
    Col("coop_modes", "合作方式", 16),
    Col("funding_total", "拟投入资金合计（万元）", 14, "#,##0.00"),
    Col("confidence", "映射置信度", 10, "0.00"),
    Col("needs_review_count", "待复核条数", 10),
    Col("score_total", "综合得分", 9, "0.0"),
    Col("score_rank", "链内排名", 8),
    Col("score_urgency", "紧迫度", 8, "0.0"),
    Col("score_difficulty", "解决难易度", 9, "0.0"),
    Col("score_market", "市场推广", 8, "0.0"),
    Col("score_urgency_evidence", "紧迫度依据", 36),
    Col("score_difficulty_evidence", "解决难易度依据", 36),
    Col("score_market_evidence", "市场推广依据", 36),
    Col("member_ids", "成员需求编号", 30),
    Col(s.CLUSTER_GROUP, "上层群组编号", 20),
    Col("recurring_members", "往期已提出条数", 10),
    Col("entry_status", "审核状态", 12),
    Col("staff_note", "审核记录", 30),
)
REVIEWER_COLUMNS = (
    Col(None, "审核意见", 12),
    Col(None, "合并至条目", 20),
    Col(None, "涉及需求编号", 24),  # 拆分 / 撤回: the member demand ids, ";"-separated
    Col(None, "新标题", 30),  # 改标题
    Col(None, "审核人", 10),
    Col(None, "备注", 30),
)
DETAIL_COLUMNS = (
    Col(s.DEMAND_ID, "需求编号(系统)", 20),
    Col(s.EXTERNAL_ID, "原始编号", 14),
    Col(s.SOURCE_FILE, "来源文件", 20),
    Col(s.SOURCE_ROW, "行号", 7),
    Col(s.TITLE, "需求名称", 32),
    Col(s.TEXT, "需求描述", 60),
    Col(s.ENTERPRISE, "企业名称", 26),
    Col(s.CREDIT_CODE, "统一社会信用代码", 22),
    Col(s.REGION, "所在市州", 10),
    Col(s.FUNDING, "拟投入资金（万元）", 12, "#,##0.00"),
    Col(s.INDUSTRY, "产业", 10),
    Col(s.CHAIN, "产业链", 16),
    Col(s.CONFIDENCE, "置信度", 8, "0.00"),
    Col(s.EVIDENCE, "映射依据", 36),
    Col(s.NEEDS_REVIEW, "需复核", 7),
    Col(s.REVIEW_REASON, "复核原因", 24),
    Col(s.DUPLICATE_GROUP, "重复组", 20),
    Col(s.DUPLICATE_KIND, "重复类型", 10),
    Col(s.CLUSTER_ID, "聚类", 20),
    Col(s.CLUSTER_GROUP, "上层群组", 20),
)
QUARANTINE_COLUMNS = (
    Col(s.SOURCE_FILE, "来源文件", 24),
    Col(s.SOURCE_ROW, "行号", 7),
    Col("column", "问题列", 14),
    Col("reason", "原因", 40),
    Col("raw", "原始内容", 80),
)
_README_HEADINGS = ("概况", "产业", "如何填写")
_VALUE_LABELS = {"entry_kind": ENTRY_KIND_LABELS, s.DUPLICATE_KIND: DUPLICATE_KIND_LABELS}


def industry_of(industry: object, industry_id: object) -> str:
    """The industry a row is filed under: its name, or 六大产业之外 when unmapped (NONE or blank)."""
    name = "" if is_missing(industry) else str(industry).strip()
    if not name or industry_id == s.NONE:
        return OUTSIDE
    return name


def industry_rank(name: str) -> tuple[int, str]:
    """Sort key: the six industries in their usual order, other names alphabetically, 六大产业之外 last."""
    if name in INDUSTRY_ORDER[:-1]:
        return (INDUSTRY_ORDER.index(name), "")
    return (len(INDUSTRY_ORDER) if name == OUTSIDE else len(INDUSTRY_ORDER) - 1, name)


def write_workbook(
    call_id: str,
    overview: Sequence[tuple[str, int]],
    drafts: pd.DataFrame,
    demands: pd.DataFrame,
    quarantine: pd.DataFrame,
    path: Path,
) -> None:
    """Build the workbook from the draft (DRAFT_COLUMNS), demand and quarantine frames and save it."""
    wb = Workbook()
    readme = wb.active
    assert readme is not None
    readme.title = README_SHEET
    by_industry = split_by_industry(drafts)
    _fill_readme(readme, call_id, overview, by_industry)
    used = {README_SHEET, DETAIL_SHEET, QUARANTINE_SHEET}
    for industry, frame in by_industry:
        ws = wb.create_sheet(_sheet_name(industry, used))
        _write_table(ws, frame, DRAFT_SHEET_COLUMNS + REVIEWER_COLUMNS)
        _add_review_validation(ws, len(frame))
    _write_table(wb.create_sheet(DETAIL_SHEET), demands, DETAIL_COLUMNS)
    _write_table(wb.create_sheet(QUARANTINE_SHEET), quarantine, QUARANTINE_COLUMNS)
    wb.save(path)


def write_return_list(returns: pd.DataFrame, headers: Mapping[str, str], path: Path) -> None:
    """return_list.xlsx: one row per enterprise whose demands need completing before the call's list is drawn up."""
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "退回补充清单"
    _write_table(ws, returns, [Col(c, h, 60 if c in ("demands", "missing") else 18) for c, h in headers.items()])
    wb.save(path)


def split_by_industry(drafts: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """(industry, entries) in sheet order, entries sorted by chain, then the entries of one upper group (cluster
    group) together, largest group first, then member_count descending."""
    if drafts.empty:
        return []
    keys = [industry_of(i, d) for i, d in zip(drafts[s.INDUSTRY], drafts[s.INDUSTRY_ID], strict=True)]
    count = pd.to_numeric(drafts["member_count"], errors="coerce").fillna(0)
    entry = drafts[s.ENTRY_ID].fillna("").astype(str)
    blank = pd.Series("", index=drafts.index)
    group = drafts[s.CLUSTER_GROUP].fillna("").astype(str) if s.CLUSTER_GROUP in drafts.columns else blank
    group = group.where(group != "", "~" + entry)  # an entry in no group is a block of its own
    order = drafts.assign(
        _industry=keys,
        _chain_id=drafts[s.CHAIN_ID].fillna("").astype(str),
        _chain=drafts[s.CHAIN].fillna("").astype(str),
        _block_size=count.groupby(group).transform("sum"),
        _block=group,
        _count=count,
        _entry=entry,
    ).sort_values(
        ["_chain_id", "_chain", "_block_size", "_block", "_count", "_entry"],
        ascending=[True, True, False, True, False, True],
        kind="stable",
    )
    groups = sorted(set(keys), key=industry_rank)
    return [(name, order[order["_industry"] == name][list(drafts.columns)]) for name in groups]


def _fill_readme(
    ws: Worksheet, call_id: str, overview: Sequence[tuple[str, int]], by_industry: list[tuple[str, pd.DataFrame]]
) -> None:
    lines: list[Sequence[object]] = [
        [f"技术需求汇总草案（供审核）— {call_id}"],
        [],
        ["本工作簿由系统根据企业提交的技术需求自动凝练生成，草案仅供参考，请逐条审核。"],
        ["内容相同或高度相似的需求合并为“重复组”，同一产业链下内容相近的需求归为“聚类”，其余为“单条”。"],
        ["相关的条目归入同一“上层群组”（可考虑凝练为同一项重大任务），同组条目在表中相邻排列。"],
        ["每个产业一张工作表，每行一个草案条目；“需求明细”列出全部接收的需求，“隔离记录”列出未能接收的行。"],
        [],
        ["概况", "数量"],
        *[[label, value] for label, value in overview],
        [],
        ["产业", "草案条目数", "需求条数", "拟投入资金合计（万元）"],
        *[[name, len(f), _total(f, "member_count"), _total(f, "funding_total")] for name, f in by_industry],
        [],
        ["如何填写"],
        ["审核意见：在下拉列表中选择 " + " / ".join(REVIEW_CHOICES) + "。"],
        ["合并至条目：审核意见为“合并”时，填写目标条目的“条目编号”。"],
        ["涉及需求编号：审核意见为“拆分”（拆出单列）或“撤回”（撤回需求）时，填写该条目中需求的编号，多个用分号分隔。"],
        ["新标题：审核意见为“改标题”时填写。"],
        ["审核人：必填。备注：不采纳、合并、拆分、撤回须写明理由。"],
        ["填好后导入：ningliang decisions import 本文件.xlsx；无效的行逐行说明原因且不生效，重复导入不会重复记录。"],
        ["其余各列由系统生成，请勿修改；“成员需求编号”可在“需求明细”表中查到每条原始需求。"],
        ["以 = + - @ 等字符开头的内容前已加 ' 号，防止被当作公式执行；本工作簿不含公式，合计均为数值。"],
    ]
    for row_number, values in enumerate(lines, start=1):
        for col_number, value in enumerate(values, start=1):
            _set(ws.cell(row=row_number, column=col_number), value)
        if values and values[0] in _README_HEADINGS:
            for col_number in range(1, len(values) + 1):
                ws.cell(row=row_number, column=col_number).font = _HEADER_FONT
    ws["A1"].font = Font(bold=True, size=14)
    ws.column_dimensions["A"].width = 40
    for letter in "BCD":
        ws.column_dimensions[letter].width = 16


def _total(frame: pd.DataFrame, column: str) -> float | int:
    total = pd.to_numeric(frame[column], errors="coerce").fillna(0).sum()
    return int(total) if float(total).is_integer() else round(float(total), 4)


def _write_table(ws: Worksheet, frame: pd.DataFrame, columns: Sequence[Col]) -> None:
    """Header row (bold, frozen, filter) then a row per frame row; reviewer (source None) cells styled, empty."""
    for col_number, col in enumerate(columns, start=1):
        cell = ws.cell(row=1, column=col_number)
        _set(cell, col.header)
        cell.font, cell.alignment = _HEADER_FONT, _WRAP
        cell.fill = _HEADER_FILL if col.source is not None else _REVIEW_FILL
        ws.column_dimensions[get_column_letter(col_number)].width = col.width
    styles = [_style_of(ws, col) for col in columns]
    blank: list[object] = [None] * len(frame)
    series = [frame[c.source].tolist() if c.source in frame.columns else blank for c in columns]
    labels = [_VALUE_LABELS.get(c.source or "", {}) for c in columns]
    for offset in range(len(frame)):
        for index, col in enumerate(columns):
            value = series[index][offset]
            if col.source is not None and (is_missing(value) or value == ""):
                continue  # no cell at all: an empty value stays an empty cell
            cell = ws.cell(row=offset + 2, column=index + 1)
            cell._style = copy(styles[index])  # a shared style: far faster than setting it per cell
            if col.source is not None:
                _set(cell, labels[index].get(value, value) if isinstance(value, str) else value)
    ws.freeze_panes = "A2"
    ws.auto_filter.ref = f"A1:{get_column_letter(len(columns))}{max(len(frame), 1) + 1}"


def _style_of(ws: Worksheet, col: Col) -> Any:
    """The style array of a wrapped, top-aligned cell with the column's number format."""
    proto = Cell(ws)
    proto.alignment = _WRAP
    proto.number_format = col.number_format
    return proto._style


def _add_review_validation(ws: Worksheet, rows: int) -> None:
    """A drop-down of REVIEW_CHOICES on the 审核意见 column for every entry row."""
    letter = get_column_letter(len(DRAFT_SHEET_COLUMNS) + 1)
    dv = DataValidation(type="list", formula1='"' + ",".join(REVIEW_CHOICES) + '"', allow_blank=True)
    dv.showErrorMessage = True
    dv.errorTitle, dv.error = "审核意见", "请从下拉列表中选择：" + "/".join(REVIEW_CHOICES)
    dv.promptTitle, dv.prompt = "审核意见", "请选择：" + "/".join(REVIEW_CHOICES)
    dv.showInputMessage = True
    ws.add_data_validation(dv)
    dv.add(f"{letter}2:{letter}{rows + 1}")


def set_cell(cell: Cell, value: object) -> None:
    """Store one value the way every workbook here does (see `_set`): no formula, text neutralised."""
    _set(cell, value)


def _set(cell: Cell, value: object) -> None:
    """Store one value: missing -> empty cell; bool -> 是/否; number -> numeric cell; else a string cell."""
    if type(value) is str:
        pass
    elif is_missing(value):
        return
    elif isinstance(value, bool | np.bool_):
        value = "是" if value else "否"
    elif isinstance(value, numbers.Integral):
        cell.value = int(value)
        return
    elif isinstance(value, numbers.Real):
        cell.value = float(value)
        return
    text = safe_text(ILLEGAL_CHARACTERS_RE.sub("", str(value)))[:_MAX_CELL_CHARS]
    if text:
        cell.value = text
        cell.data_type = "s"


def _sheet_name(name: str, used: set[str]) -> str:
    """A valid, unused sheet name (<= 31 characters, no []:*?/\\) for an industry."""
    base = _BAD_SHEET_CHARS.sub("_", name).strip("'")[:31] or "未命名"
    candidate, n = base, 2
    while candidate in used:
        candidate, n = f"{base[: 31 - len(str(n)) - 1]}_{n}", n + 1
    used.add(candidate)
    return candidate
