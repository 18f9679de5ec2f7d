"""Read staff decisions back from a returned draft workbook (every industry sheet) or a CSV."""

import io
import unicodedata
from pathlib import Path

import openpyxl

from . import schema as s
from .corrections import Problem
from .decisions import ACTIONS, StaffDecision, parse_action, split_ids
from .errors import UnreadableFileError
from .readers import HEADER_SCAN_ROWS, _cell_str, _csv_grid, _decode, _read_bytes
from .safe import FORMULA_PREFIXES, NEUTRALISER

HEADERS = {
    s.ENTRY_ID: ("条目编号", "entry_id"),
    "action": ("审核意见", "action"),
    "target": ("合并至条目", "target"),
    "demand_ids": ("涉及需求编号", "demand_ids"),
    "new_title": ("新标题", "new_title"),
    "reviewer": ("审核人", "reviewer"),
    "reason": ("备注", "理由", "reason"),
}
_FIELD_OF = {"".join(unicodedata.normalize("NFKC", a).split()).lower(): f for f, al in HEADERS.items() for a in al}
Grid = list[tuple[int, list[str]]]


def _plain(text: str) -> str:
    """A cell as staff typed it: our own formula guard (a leading ') removed."""
    text = text.strip()
    if text.startswith(NEUTRALISER) and text[1:2] in FORMULA_PREFIXES:
        return text[1:]
    return text


def _grids(path: Path) -> list[tuple[str, Grid]]:
    data = _read_bytes(path)
    suffix = path.suffix.lower()
    if suffix in (".csv", ".txt"):
        return [("", list(_csv_grid(_decode(data, path.name))))]
    if suffix not in (".xlsx", ".xlsm"):
        raise UnreadableFileError(
            path.name, f"不支持的文件类型“{suffix or '无扩展名'}”，请提交需求清单工作簿 .xlsx 或 .csv"
        )
    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a damaged or disguised file
        raise UnreadableFileError(path.name, f"不是有效的 Excel .xlsx 文件（{type(exc).__name__}）") from exc
    try:
        grids = []
        for ws in book.worksheets:
            if hasattr(ws, "reset_dimensions"):
                ws.reset_dimensions()
            rows = ws.iter_rows(values_only=True)
            grids.append((ws.title, [(n, [_cell_str(v) for v in row]) for n, row in enumerate(rows, start=1)]))
        return grids
    finally:
        book.close()


def read_decisions(path: Path) -> tuple[list[StaffDecision], list[Problem], int]:
    """Decision rows of every sheet with an 条目编号 and 审核意见 header, the rows that cannot be read, and the
    number of rows left undecided (blank or 待定). UnreadableFileError when no sheet has that header."""
    decisions: list[StaffDecision] = []
    problems: list[Problem] = []
    undecided, found = 0, False
    for sheet, grid in _grids(path):
        where = f"{path.name}" + (f"［{sheet}］" if sheet else "")
        for at, (_, cells) in enumerate(grid[:HEADER_SCAN_ROWS]):
            columns = {}
            for index, cell in enumerate(cells):
                field = _FIELD_OF.get("".join(unicodedata.normalize("NFKC", cell).split()).lower())
                if field and field not in columns:
                    columns[field] = index
            if s.ENTRY_ID in columns and "action" in columns:
                found = True
                for row_number, row in grid[at + 1 :]:
                    values = {f: _plain(row[i]) if i < len(row) else "" for f, i in columns.items()}
                    if not any(values.values()):
                        continue
                    action = parse_action(values.get("action", ""))
                    if action == "":
                        undecided += 1
                    elif action is None:
                        choices = "、".join([*ACTIONS, "待定"])
                        reason = f"审核意见“{values['action']}”无效，应为 {choices} 之一"
                        problems.append(Problem(where, row_number, "审核意见", reason))
                    else:
                        decisions.append(
                            StaffDecision(
                                entry_id=values.get(s.ENTRY_ID, ""), action=action,
                                reviewer=values.get("reviewer", ""), reason=values.get("reason", ""),
                                target=values.get("target", ""), demand_ids=split_ids(values.get("demand_ids")),
                                new_title=values.get("new_title", ""), source_file=where, source_row=row_number,
                            )
                        )  # fmt: skip
                break
    if not found:
        raise UnreadableFileError(path.name, f"找不到“条目编号”与“审核意见”表头（前 {HEADER_SCAN_ROWS} 行内）")
    return decisions, problems, undecided
