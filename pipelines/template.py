"""The blank 需求征集表 (`ningliang template --out FILE.xlsx`) enterprises fill in for the next call.

Sheets: "需求征集表" first (the reader takes the first sheet with a recognised header, so a filled template
round-trips through `pipelines.ingest`), "填表说明" (instructions in Chinese) and the hidden "lists" sheet the
drop-downs read (a list typed into a validation is limited to 255 characters; the chain list is longer). The
headers are aliases `pipelines.readers.FIELD_ALIASES` recognises; 所属产业 / 所属产业链 are the enterprise's own
choice and are not read by ingest yet (the mapper decides). No formula cells: the only formulas are the
data-validation list ranges.
"""

from pathlib import Path
from typing import NamedTuple

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet

from .regions import SICHUAN_PREFECTURES
from .taxonomy import Taxonomy
from .workbook import _set

FORM_SHEET, README_SHEET, LISTS_SHEET = "需求征集表", "填表说明", "lists"
FORM_ROWS = 500  # rows that carry the drop-downs; more rows can be added by copying a row
COOP_MODES = (
    "委托开发",
    "合作开发",
    "联合攻关",
    "技术转让",
    "技术许可",
    "技术咨询",
    "技术服务",
    "共建研发平台",
    "人才引进",
    "其他",
)
_REQUIRED_FILL = PatternFill("solid", fgColor="F8CBAD")
_OPTIONAL_FILL = PatternFill("solid", fgColor="DDEBF7")
_WRAP = Alignment(wrap_text=True, vertical="top")


class Field(NamedTuple):
    header: str  # as written in the form; must stay recognisable by readers.match_field (except choice-only ones)
    width: float
    required: bool
    help: str  # the instruction on the 填表说明 sheet
    choices: str = ""  # "industry" / "chain" / "coop" / "region": a drop-down from the lists sheet
    text: bool = False  # stored as text (long digit strings would otherwise turn into numbers)


FIELDS = (
    Field("需求编号", 12, False, "企业内部编号，可不填；同一文件内不要重复", text=True),
    Field("需求名称（必填）", 30, True, "一句话概括要解决的技术问题，如“高镍三元正极材料循环寿命提升”"),
    Field("企业名称（必填）", 26, True, "填写营业执照上的全称"),
    Field("统一社会信用代码", 22, False, "18 位，用于准确统计提出需求的企业数", text=True),
    Field("所在市州", 14, False, "下拉选择四川省 21 个市州之一", "region"),
    Field("所属产业", 14, False, "下拉选择六大优势产业之一（不确定可不填，由系统判断）", "industry"),
    Field("所属产业链", 22, False, "下拉选择重点产业链（不确定可不填，由系统判断）", "chain"),
    Field("需求描述（必填）", 50, True, "需求背景、要研发的产品或技术、应用场景"),
    Field("技术难点", 40, False, "现有技术存在什么问题、卡在哪里、企业自身为何难以解决（未说明的需求将退回补充）"),
    Field("主要技术指标", 36, False, "量化的目标值，如“精度≤0.01mm”“效率提升30%”“寿命≥5000小时”（未填的将退回补充）"),
    Field("拟投入资金（万元）", 12, False, "企业拟投入的研发资金，填数字，单位万元"),
    Field("合作方式", 14, False, "下拉选择；多种方式可在备注中说明", "coop"),
    Field("期望完成时间", 14, False, "如“2027年6月”或“12个月内”"),
    Field("联系人", 10, False, "需求联系人姓名"),
    Field("联系电话", 16, False, "手机或座机", text=True),
)


def _fill_lists(ws: Worksheet, taxonomy: Taxonomy) -> dict[str, str]:
    """One list per column of the hidden sheet; returns choice kind -> its absolute range."""
    lists = {
        "industry": [f"{i.id} {i.name}" for i in taxonomy.industries],
        "chain": [f"{c.id} {c.name}" for c in taxonomy.chains],
        "coop": list(COOP_MODES),
        "region": list(SICHUAN_PREFECTURES),
    }
    headers = {"industry": "产业", "chain": "产业链", "coop": "合作方式", "region": "市州"}
    ranges = {}
    for col, (kind, values) in enumerate(lists.items(), start=1):
        _set(ws.cell(row=1, column=col), headers[kind])
        for row, value in enumerate(values, start=2):
            _set(ws.cell(row=row, column=col), value)
        letter = get_column_letter(col)
        ranges[kind] = f"'{LISTS_SHEET}'!${letter}$2:${letter}${len(values) + 1}"
    return ranges


def _fill_form(ws: Worksheet, ranges: dict[str, str]) -> None:
    for col, field in enumerate(FIELDS, start=1):
        cell = ws.cell(row=1, column=col)
        _set(cell, field.header)
        cell.font, cell.alignment = Font(bold=True), _WRAP
        cell.fill = _REQUIRED_FILL if field.required else _OPTIONAL_FILL
        letter = get_column_letter(col)
        ws.column_dimensions[letter].width = field.width
        if field.text:
            for row in range(2, FORM_ROWS + 2):
                ws.cell(row=row, column=col).number_format = "@"
        if field.choices:
            dv = DataValidation(type="list", formula1=ranges[field.choices], allow_blank=True)
            dv.showErrorMessage, dv.showInputMessage = True, True
            title = field.header
            dv.errorTitle, dv.error = title, f"请从下拉列表中选择{title}"
            dv.promptTitle, dv.prompt = title, field.help[:250]
            dv.add(f"{letter}2:{letter}{FORM_ROWS + 1}")
            ws.add_data_validation(dv)
    ws.freeze_panes = "C2"


def _fill_readme(ws: Worksheet, taxonomy: Taxonomy) -> None:
    lines: list[list[str]] = [
        ["四川省企业技术需求征集表 — 填表说明"],
        [],
        ["请在“需求征集表”工作表中每行填写一项技术需求；一家企业可填写多行。请勿修改、删除或调换表头。"],
        ["红色表头为必填项，蓝色表头为选填项；所在市州、所属产业、所属产业链、合作方式请从下拉列表中选择。"],
        ["技术难点与主要技术指标虽非必填，但未写明量化指标或技术难点的需求将退回企业补充。"],
        [],
        ["栏目", "是否必填", "填写要求"],
        *[[f.header, "必填" if f.required else "选填", f.help] for f in FIELDS],
        [],
        ["合作方式可选", "、".join(COOP_MODES)],
        [],
        ["产业链编号", "产业链名称", "所属产业"],
        *[[c.id, c.name, taxonomy.industry_name(c.industry_id)] for c in taxonomy.chains],
    ]
    for row, values in enumerate(lines, start=1):
        for col, value in enumerate(values, start=1):
            _set(ws.cell(row=row, column=col), value)
            ws.cell(row=row, column=col).alignment = _WRAP
        if values and values[0] in ("栏目", "产业链编号"):
            for col in range(1, len(values) + 1):
                ws.cell(row=row, column=col).font = Font(bold=True)
    ws["A1"].font = Font(bold=True, size=14)
    for letter, width in (("A", 22), ("B", 22), ("C", 70)):
        ws.column_dimensions[letter].width = width


def write_template(path: Path, taxonomy: Taxonomy) -> None:
    """Save the blank form at `path` (.xlsx): form sheet first, instructions, hidden lists."""
    wb = Workbook()
    form = wb.active
    assert form is not None
    form.title = FORM_SHEET
    readme = wb.create_sheet(README_SHEET)
    lists = wb.create_sheet(LISTS_SHEET)
    ranges = _fill_lists(lists, taxonomy)
    lists.sheet_state = "hidden"
    _fill_form(form, ranges)
    _fill_readme(readme, taxonomy)
    wb.save(path)
