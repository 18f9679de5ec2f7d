"""The chain lead's review workbook (review-<call>-<chain>.xlsx): written for export, read back on import.

Sheets: "说明" (what to do, in Chinese, with the id table), "复核" (a row per demand: mapping, evidence,
confidence, then the reviewer's columns 审核结论 / 更正产业编号 / 更正产业链编号 / 审核人 / 备注 with drop-down
lists) and the hidden "ids" sheet the drop-downs read (a list typed into the validation is limited to 255
characters). No formula cells: text goes through `safe_text` and is stored as string cells.
Returned workbooks are read by `pipelines.review_import`.
"""

from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd
from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet

from . import schema as s
from .taxonomy import INDUSTRY_IDS, Taxonomy
from .workbook import Col, _set, _write_table

README_SHEET, REVIEW_SHEET, IDS_SHEET = "说明", "复核", "ids"
SCOPE = "review_scope"  # why the demand is in this chain's workbook
SCOPE_LABELS = {"primary": "本链判定", "secondary": "第二产业链", "alternative": "备选产业链"}
VERDICT = "verdict"
CONFIRM, CORRECT = "确认", "更正"
REVIEW_COLUMNS = (
    Col(s.DEMAND_ID, "需求编号(系统)", 20),
    Col(s.EXTERNAL_ID, "原始编号", 12),
    Col(s.CALL_ID, "批次", 12),
    Col(SCOPE, "列入原因", 10),
    Col(s.TITLE, "需求名称", 30),
    Col(s.TEXT, "需求描述", 50),
    Col(s.ENTERPRISE, "企业名称", 22),
    Col(s.REGION, "所在市州", 9),
    Col(s.INDUSTRY_ID, "当前产业编号", 9),
    Col(s.INDUSTRY, "当前产业", 10),
    Col(s.CHAIN_ID, "当前产业链编号", 12),
    Col(s.CHAIN, "当前产业链", 16),
    Col(s.CONFIDENCE, "产业链置信度", 9, "0.00"),
    Col(s.INDUSTRY_CONFIDENCE, "产业置信度", 9, "0.00"),
    Col(s.EVIDENCE, "映射依据", 40),
    Col(s.ALTERNATIVES, "备选（产业/产业链:概率）", 26),
    Col(s.SECONDARY_CHAIN_ID, "第二产业链", 12),
    Col(s.NEEDS_REVIEW, "需复核", 7),
    Col(s.REVIEW_REASON, "复核原因", 22),
)
ANSWER_COLUMNS = (
    Col(None, "审核结论", 10),
    Col(None, "更正产业编号", 12),
    Col(None, "更正产业链编号", 14),
    Col(None, "审核人", 10),
    Col(None, "备注", 30),
)


# --- export -----------------------------------------------------------------------------------------------
def alternative_chains(alternatives: object) -> list[str]:
    """Chain ids in an ALTERNATIVES text ("EC/EC-BATT:0.210;AM/NONE:0.050" or "EC-BATT:0.21;...")."""
    if not isinstance(alternatives, str):
        return []
    return [p.split(":")[0].split("/")[-1].strip() for p in alternatives.split(";") if p.strip()]


def chains_of(demands: pd.DataFrame) -> list[str]:
    """The chains a call's demands are mapped to (primary or secondary), sorted; NONE last when present."""
    found = set(demands[s.CHAIN_ID].dropna().astype(str))
    if s.SECONDARY_CHAIN_ID in demands.columns:
        found |= set(demands[s.SECONDARY_CHAIN_ID].dropna().astype(str))
    found.discard("")
    return sorted(found - {s.NONE}) + ([s.NONE] if s.NONE in found else [])


def review_rows(demands: pd.DataFrame, chain_id: str, taxonomy: Taxonomy) -> pd.DataFrame:
    """The demands `chain_id`'s lead reviews, with SCOPE and industry / chain names added.

    Input: library demands (demand_id, chain_id, industry_id, secondary_chain_id, alternatives...). A demand is
    in when its chain is `chain_id` (primary), its secondary chain is (secondary) or one of its alternatives
    is (alternative); for NONE only the primary. Sorted: scope, needs_review first, confidence ascending.
    """
    chain = demands[s.CHAIN_ID].fillna("").astype(str)
    secondary = demands.get(s.SECONDARY_CHAIN_ID, pd.Series("", index=demands.index)).fillna("").astype(str)
    alternatives = demands.get(s.ALTERNATIVES, pd.Series("", index=demands.index)).map(alternative_chains)
    scope = pd.Series("", index=demands.index, dtype=object)
    if chain_id != s.NONE:
        scope[alternatives.map(lambda chains: chain_id in chains)] = "alternative"
        scope[secondary == chain_id] = "secondary"
    scope[chain == chain_id] = "primary"
    picked = demands[scope != ""].assign(**{SCOPE: scope[scope != ""]})
    if picked.empty:
        return picked
    added: dict[str, pd.Series] = {
        s.INDUSTRY: picked[s.INDUSTRY_ID].map(lambda i: id_name(taxonomy.industry_name, i)),
        s.CHAIN: picked[s.CHAIN_ID].map(lambda c: id_name(taxonomy.chain_name, c)),
        s.NEEDS_REVIEW: _flag(picked, s.NEEDS_REVIEW),
        "_rank": picked[SCOPE].map({key: rank for rank, key in enumerate(SCOPE_LABELS)}),
    }
    picked = picked.assign(**added)
    order = ["_rank", s.NEEDS_REVIEW, s.CONFIDENCE, s.DEMAND_ID]
    picked = picked.sort_values(order, ascending=[True, False, True, True], kind="stable", na_position="first")
    return picked.drop(columns="_rank").reset_index(drop=True)


def _flag(frame: pd.DataFrame, column: str) -> pd.Series:
    if column not in frame.columns:
        return pd.Series(False, index=frame.index)
    return pd.to_numeric(frame[column], errors="coerce").fillna(0).astype(bool)


def id_name(lookup: Callable[[str], str], value: object) -> str:
    """The taxonomy name of an id; the id itself when the taxonomy does not know it."""
    try:
        return lookup(str(value))
    except KeyError:
        return "" if value is None else str(value)


def write_review_workbook(rows: pd.DataFrame, call_id: str, chain_id: str, taxonomy: Taxonomy, path: Path) -> None:
    """Build and save one chain lead's workbook from `review_rows(...)`."""
    wb = Workbook()
    readme = wb.active
    assert readme is not None
    readme.title = README_SHEET
    sheet = wb.create_sheet(REVIEW_SHEET)
    shown = rows.assign(**{SCOPE: rows[SCOPE].map(SCOPE_LABELS)}) if not rows.empty else rows
    _write_table(sheet, shown, REVIEW_COLUMNS + ANSWER_COLUMNS)
    ids = wb.create_sheet(IDS_SHEET)
    industry_range, chain_range = _fill_ids(ids, taxonomy)
    ids.sheet_state = "hidden"
    _add_validations(sheet, len(rows), industry_range, chain_range)
    _fill_readme(readme, rows, call_id, chain_id, taxonomy)
    wb.save(path)


def _fill_ids(ws: Worksheet, taxonomy: Taxonomy) -> tuple[str, str]:
    """Industry ids (+ NONE) in column A and chain ids (+ NONE) in column B, names beside them."""
    industries = [*INDUSTRY_IDS, s.NONE]
    chains = [c.id for c in taxonomy.chains] + [s.NONE]
    for col, values in enumerate(
        (
            industries,
            [taxonomy.industry_name(i) for i in industries],
            chains,
            [taxonomy.chain_name(c) for c in chains],
        ),
        start=1,
    ):
        _set(ws.cell(row=1, column=col), ("产业编号", "产业名称", "产业链编号", "产业链名称")[col - 1])
        for row, value in enumerate(values, start=2):
            _set(ws.cell(row=row, column=col), value)
    return f"'{IDS_SHEET}'!$A$2:$A${len(industries) + 1}", f"'{IDS_SHEET}'!$C$2:$C${len(chains) + 1}"


def _add_validations(ws: Worksheet, n_rows: int, industry_range: str, chain_range: str) -> None:
    first = len(REVIEW_COLUMNS) + 1
    lists = (
        (first, '"' + ",".join((CONFIRM, CORRECT)) + '"', "审核结论", f"请选择：{CONFIRM} 或 {CORRECT}"),
        (first + 1, industry_range, "更正产业编号", "请从下拉列表选择产业编号（六大产业之外选 NONE）"),
        (first + 2, chain_range, "更正产业链编号", "请从下拉列表选择产业链编号（不属于任何重点产业链选 NONE）"),
    )
    for col, formula, title, prompt in lists:
        dv = DataValidation(type="list", formula1=formula, allow_blank=True)
        dv.showErrorMessage, dv.showInputMessage = True, True
        dv.errorTitle, dv.error, dv.promptTitle, dv.prompt = title, prompt, title, prompt
        letter = get_column_letter(col)
        dv.add(f"{letter}2:{letter}{max(n_rows, 1) + 1}")
        ws.add_data_validation(dv)


def _fill_readme(ws: Worksheet, rows: pd.DataFrame, call_id: str, chain_id: str, taxonomy: Taxonomy) -> None:
    counts = rows[SCOPE].value_counts() if not rows.empty else pd.Series(dtype=int)
    review = int(rows[s.NEEDS_REVIEW].sum()) if not rows.empty else 0
    lines: list[Sequence[object]] = [
        [f"产业链复核表 — 批次 {call_id} · {chain_id} {id_name(taxonomy.chain_name, chain_id)}"],
        [],
        ["本表列出系统映射到本产业链（或以本链为第二产业链、备选产业链）的需求，请链长逐条确认或更正产业与产业链。"],
        ["需求条数", len(rows)],
        *[[label, int(counts.get(key, 0))] for key, label in SCOPE_LABELS.items()],
        ["其中系统标记需复核", review],
        [],
        ["如何填写（“复核”工作表右侧黄色表头的五列）"],
        [
            f"审核结论：下拉选择“{CONFIRM}”（当前产业与产业链正确）或“{CORRECT}”（需要更正）；不审核的行留空，导入时跳过。"
        ],
        ["更正产业编号 / 更正产业链编号：选择“更正”时从下拉列表选择正确编号；可只选产业链，产业由产业链确定。"],
        ["属于某产业但不属于任何重点产业链：产业链选 NONE；不属于六大产业：产业与产业链都选 NONE。"],
        ["审核人：必填，填写本人姓名；备注：可填写更正理由。"],
        ["请勿修改“需求编号(系统)”等系统生成的列，勿删除或改动表头；可以排序、筛选。"],
        ["导入：工作人员执行 ningliang review import 本文件；每行都会校验（编号是否有效、产业与产业链是否匹配、"],
        [
            "是否填写审核人），有问题的行会逐行列出（文件、行、列、原因）且不会导入，其余行照常导入；重复导入不会重复记录。"
        ],
        ["人工结论优先：导入后，之后的自动运行不会覆盖人工确认或更正的结果。"],
        ["两位链长对同一需求给出不同结论时，该需求进入仲裁清单（ningliang review arbitration），仲裁前保持原值。"],
        ["以 = + - @ 等字符开头的内容前已加 ' 号，防止被当作公式执行；本工作簿不含公式。"],
        [],
        ["编号对照", "名称", "所属产业"],
        *[[i, taxonomy.industry_name(i), "产业"] for i in INDUSTRY_IDS],
        *[[c.id, c.name, c.industry_id] for c in taxonomy.chains],
        [s.NONE, "六大产业之外 / 无对应重点产业链", ""],
    ]
    for row_number, values in enumerate(lines, start=1):
        for col_number, value in enumerate(values, start=1):
            _set(ws.cell(row=row_number, column=col_number), value)
    ws["A1"].font = Font(bold=True, size=14)
    for row_number, values in enumerate(lines, start=1):
        if values and str(values[0]).startswith(("如何填写", "编号对照")):
            ws.cell(row=row_number, column=1).font = Font(bold=True)
    ws.column_dimensions["A"].width = 24
    ws.column_dimensions["B"].width = 30
