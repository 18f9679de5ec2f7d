"""Returned review files -> Corrections: files read, verdict columns interpreted, external ids resolved.

`read_review_file` accepts the returned workbook or any .xlsx / .csv whose header names demand_id or
external_id, industry_id, chain_id, reviewer, note (or the workbook's Chinese headers); a whole-file problem is an
UnreadableFileError. `to_corrections` is pure: the library's answer to "which demands have these external ids"
is passed in (`Library.demands_by_external_id`).
A review workbook row is read by its 审核结论: 确认 takes the ids shown (当前产业编号 / 当前产业链编号), 更正 (or
no verdict but corrected ids filled) the corrected ids; a row with neither is not reviewed and skipped. A plain
correction list (CSV) row always carries the decided ids.
"""

import io
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import openpyxl
from openpyxl.utils import get_column_letter

from . import migrations as m
from . import schema as s
from .corrections import CURRENT_CHAIN_ID, CURRENT_INDUSTRY_ID, Correction, Problem
from .errors import UnreadableFileError
from .readers import HEADER_SCAN_ROWS, _cell_str, _csv_grid, _decode, _read_bytes
from .review_workbook import CONFIRM, CORRECT, IDS_SHEET, REVIEW_SHEET, VERDICT
from .safe import FORMULA_PREFIXES, NEUTRALISER

# field -> accepted headers (compared after NFKC, trimming, lower case and removing spaces)
HEADERS: dict[str, tuple[str, ...]] = {
    s.DEMAND_ID: ("需求编号(系统)", "demand_id", "系统编号"),
    s.EXTERNAL_ID: ("原始编号", "external_id", "需求编号"),
    s.CALL_ID: ("批次", "call_id"),
    VERDICT: ("审核结论", "verdict"),
    s.INDUSTRY_ID: ("更正产业编号", "industry_id"),
    s.CHAIN_ID: ("更正产业链编号", "chain_id"),
    m.REVIEWER: ("审核人", "reviewer"),
    m.NOTE: ("备注", "note"),
    CURRENT_INDUSTRY_ID: ("当前产业编号", "current_industry_id"),
    CURRENT_CHAIN_ID: ("当前产业链编号", "current_chain_id"),
}


Lookup = Mapping[str, Sequence[tuple[str, str]]]  # external_id -> [(demand_id, call_id), ...]


@dataclass
class ReadRows:
    """What the returned files say: corrections to apply, invalid rows, rows left blank (not reviewed)."""

    corrections: list[Correction] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    blank: int = 0


# --- reading files -----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ReviewRow:
    """One filled row of a returned file: field -> text ("" when blank) and field -> column label for messages."""

    file: str
    row: int
    values: dict[str, str]
    labels: dict[str, str]

    def get(self, field: str) -> str:
        return self.values.get(field, "")


@dataclass(frozen=True)
class ReviewFile:
    name: str
    rows: list[ReviewRow]
    has_verdict: bool  # a review workbook (审核结论 column) rather than a plain correction list


def read_review_file(path: Path) -> ReviewFile:
    """The rows of a returned workbook or correction CSV; UnreadableFileError (Chinese) for a whole-file problem."""
    name = path.name
    data = _read_bytes(path)
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        grids = _xlsx_grids(data, name)
    elif suffix in (".csv", ".txt"):
        grids = [list(_csv_grid(_decode(data, name)))]
    else:
        raise UnreadableFileError(name, f"不支持的文件类型“{suffix or '无扩展名'}”，请提交复核工作簿 .xlsx 或 .csv")
    for grid in grids:
        found = _from_grid(name, grid)
        if found is not None:
            return found
    need = "需要“需求编号(系统)”/demand_id 或“原始编号”/external_id 列，以及“更正产业链编号”/chain_id 或“审核结论”列"
    raise UnreadableFileError(name, f"找不到复核表头（前 {HEADER_SCAN_ROWS} 行内）：{need}")


def _xlsx_grids(data: bytes, name: str) -> list[list[tuple[int, list[str]]]]:
    """Every worksheet's cells as text, the "复核" sheet first."""
    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a damaged or disguised file
        raise UnreadableFileError(
            name, f"不是有效的 Excel .xlsx 文件（{type(exc).__name__}），请用 Excel 另存为 .xlsx"
        ) from exc
    try:
        sheets = sorted(book.worksheets, key=lambda ws: ws.title != REVIEW_SHEET)
        grids = []
        for ws in sheets:
            if ws.title == IDS_SHEET or not hasattr(ws, "reset_dimensions"):
                continue
            ws.reset_dimensions()
            rows = ws.iter_rows(values_only=True)
            grids.append([(n, [_cell_str(v) for v in row]) for n, row in enumerate(rows, start=1)])
        return grids
    finally:
        book.close()


def _key(header: str) -> str:
    return "".join(unicodedata.normalize("NFKC", header).split()).lower()


_FIELD_OF = {_key(alias): f for f, aliases in HEADERS.items() for alias in aliases}


def _from_grid(name: str, grid: list[tuple[int, list[str]]]) -> ReviewFile | None:
    """Find the header among the first rows, then read the data rows below it (blank rows dropped)."""
    for at, (_, cells) in enumerate(grid[:HEADER_SCAN_ROWS]):
        columns: dict[str, int] = {}
        for index, cell in enumerate(cells):
            field = _FIELD_OF.get(_key(cell))
            if field is not None and field not in columns:
                columns[field] = index
        has_id = s.DEMAND_ID in columns or s.EXTERNAL_ID in columns
        if not has_id or not (s.CHAIN_ID in columns or VERDICT in columns):
            continue
        labels = {f: f"“{cells[i].strip()}”列（{get_column_letter(i + 1)}）" for f, i in columns.items()}
        rows = []
        for number, row in grid[at + 1 :]:
            values = {f: _plain(row[i]) if i < len(row) else "" for f, i in columns.items()}
            if any(values.values()):
                rows.append(ReviewRow(name, number, values, labels))
        return ReviewFile(name, rows, VERDICT in columns)
    return None


def _plain(cell: str) -> str:
    """Cell text trimmed, with the "'" a safe export put before = + - @ taken off again."""
    text = cell.strip()
    if text.startswith(NEUTRALISER) and text[1:2] in FORMULA_PREFIXES:
        return text[1:]
    return text


# --- rows -> corrections ---------------------------------------------------------------------------------
def external_ids_needed(files: Iterable[ReviewFile]) -> set[str]:
    """External ids of rows that name no demand_id (to look up in the library)."""
    return {r.get(s.EXTERNAL_ID) for f in files for r in f.rows if not r.get(s.DEMAND_ID) and r.get(s.EXTERNAL_ID)}


def to_corrections(files: Iterable[ReviewFile], lookup: Lookup, call_id: str | None, arbiter: bool = False) -> ReadRows:
    """Every row of `files` as a Correction, a Problem, or blank. `call_id` (--call) resolves external ids."""
    out = ReadRows()
    for review in files:
        for row in review.rows:
            decided = _decision(row) if review.has_verdict else (row.get(s.INDUSTRY_ID), row.get(s.CHAIN_ID), {})
            if decided is None:
                out.blank += 1
                continue
            if isinstance(decided, Problem):
                out.problems.append(decided)
                continue
            industry, chain, relabel = decided
            demand = _resolve(row, lookup, row.get(s.CALL_ID) or call_id or "")
            if isinstance(demand, Problem):
                out.problems.append(demand)
                continue
            out.corrections.append(
                Correction(
                    demand_id=demand,
                    industry_id=industry,
                    chain_id=chain,
                    reviewer=row.get(m.REVIEWER),
                    note=row.get(m.NOTE),
                    source_file=row.file,
                    source_row=row.row,
                    arbiter=arbiter,
                    labels=row.labels | relabel,
                )
            )
    return out


def _problem(row: ReviewRow, column: str, reason: str) -> Problem:
    return Problem(row.file, row.row, row.labels.get(column, column), reason)


def _decision(row: ReviewRow) -> tuple[str, str, dict[str, str]] | Problem | None:
    """(industry_id, chain_id, labels of the columns they came from) of a review workbook row."""
    verdict = row.get(VERDICT)
    new = (row.get(s.INDUSTRY_ID), row.get(s.CHAIN_ID))
    shown = (row.get(CURRENT_INDUSTRY_ID), row.get(CURRENT_CHAIN_ID))
    if not verdict and not any(new):
        if row.get(m.NOTE):
            return _problem(row, VERDICT, f"填写了备注但未选择审核结论（{CONFIRM}/{CORRECT}），本行未导入")
        return None
    if verdict not in ("", CONFIRM, CORRECT):
        return _problem(row, VERDICT, f"审核结论应为“{CONFIRM}”或“{CORRECT}”，而不是“{verdict}”")
    if verdict == CONFIRM:
        if any(new) and tuple(x.upper() for x in new) != tuple(x.upper() for x in shown):
            return _problem(
                row, VERDICT, f"审核结论为“{CONFIRM}”，但填写了与当前不同的更正编号；需要更正请选“{CORRECT}”"
            )
        if not shown[1]:
            return _problem(row, CURRENT_CHAIN_ID, "“确认”的行缺少当前产业链编号，请勿删改系统生成的列")
        relabel = {s.INDUSTRY_ID: row.labels.get(CURRENT_INDUSTRY_ID, ""), s.CHAIN_ID: row.labels[CURRENT_CHAIN_ID]}
        return shown[0], shown[1], relabel
    if not any(new):
        return _problem(row, s.CHAIN_ID, f"审核结论为“{CORRECT}”，但未填写更正产业编号或更正产业链编号")
    return new[0], new[1], {}


def _resolve(row: ReviewRow, lookup: Lookup, call_id: str) -> str | Problem:
    """The row's demand_id: given, or found by external_id (within `call_id` when given)."""
    if row.get(s.DEMAND_ID):
        return row.get(s.DEMAND_ID)
    external = row.get(s.EXTERNAL_ID)
    if not external:
        return _problem(row, s.DEMAND_ID, "缺少需求编号：请填写 demand_id（需求编号(系统)）或 external_id（原始编号）")
    found = list(lookup.get(external, ()))
    if call_id:
        found = [f for f in found if f[1] == call_id]
    in_call = f"批次 {call_id} 中" if call_id else ""
    if not found:
        return _problem(row, s.EXTERNAL_ID, f"需求库{in_call}没有原始编号为“{external}”的需求（未知需求）")
    if len(found) > 1 and call_id:
        ids = "、".join(d for d, _ in found)
        return _problem(row, s.EXTERNAL_ID, f"{in_call}原始编号“{external}”对应多条需求（{ids}），请改用 demand_id")
    if len(found) > 1:
        calls = "、".join(sorted({c for _, c in found}))
        reason = f"原始编号“{external}”在需求库中对应 {len(found)} 条需求（批次 {calls}），请用 --call 指定批次"
        return _problem(row, s.EXTERNAL_ID, reason)
    return found[0][0]
