"""Expert panel scores (`ningliang scores import FILE`): read and checked row by row, then replacing or blended
with the computed scores per the rubric; the total and the ranking follow.

The file (.xlsx or .csv) has a header row (within the first 10 rows) naming 条目编号, 紧迫度, 解决难易度, 市场推广
and 专家姓名 (English names accepted too). A row with any problem is reported with file, row and column and is
never applied, not even in part. Storing the scores in the library is not done here.
"""

import io
import re
import unicodedata
from pathlib import Path
from typing import Literal

import numpy as np
import openpyxl
import pandas as pd
from openpyxl.utils import get_column_letter

from . import schema as s
from .corrections import Problem
from .errors import UnreadableFileError
from .readers import HEADER_SCAN_ROWS, _cell_str, _csv_grid, _decode, _read_bytes
from .rubric import DIMENSION_LABELS, DIMENSIONS, Rubric
from .scoring import (
    EVIDENCE_OF,
    SCORE_EXPERTS,
    SCORE_OF,
    SCORE_SOURCE,
    SCORE_TOTAL,
    SCORE_TOTAL_EVIDENCE,
    total_of,
    with_rank,
)

EXPERT = "expert"
SOURCE_FILE, SOURCE_ROW = s.SOURCE_FILE, s.SOURCE_ROW
EXPERT_COLUMNS = [s.ENTRY_ID, *DIMENSIONS, EXPERT, SOURCE_FILE, SOURCE_ROW]  # scores float 0-100, NaN = not scored
HEADERS: dict[str, tuple[str, ...]] = {
    s.ENTRY_ID: ("条目编号", "entry_id", "条目"),
    "urgency": ("紧迫度", "urgency"),
    "difficulty": ("解决难易度", "难易度", "difficulty"),
    "market": ("市场推广", "市场前景", "market"),
    EXPERT: ("专家姓名", "专家", "评分专家", "expert"),
}
_ENTRY_RE = re.compile(r"[CGS][0-9a-f]{16}")
Grid = list[tuple[int, list[str]]]


def _key(header: str) -> str:
    return re.sub(r"[\s*（）()]|必填", "", unicodedata.normalize("NFKC", header)).lower()


_FIELD_OF = {_key(alias): field for field, aliases in HEADERS.items() for alias in aliases}


def _grids(path: Path) -> list[Grid]:
    name, suffix, data = path.name, path.suffix.lower(), _read_bytes(path)
    if suffix in (".csv", ".txt"):
        return [list(_csv_grid(_decode(data, name)))]
    if suffix not in (".xlsx", ".xlsm"):
        raise UnreadableFileError(name, f"不支持的文件类型“{suffix or '无扩展名'}”，请提交 .xlsx 或 .csv")
    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a damaged or disguised file
        raise UnreadableFileError(name, f"不是有效的 Excel .xlsx 文件（{type(exc).__name__}）") from exc
    try:
        sheets = [ws for ws in book.worksheets if hasattr(ws, "reset_dimensions")]
        return [[(n, [_cell_str(v) for v in row]) for n, row in enumerate(ws.iter_rows(values_only=True), 1)]
                for ws in sheets]  # fmt: skip
    finally:
        book.close()


def _header(grid: Grid) -> tuple[int, dict[str, int], list[str]] | None:
    """(index of the header row in grid, field -> column index, the header cells) or None."""
    for at, (_, cells) in enumerate(grid[:HEADER_SCAN_ROWS]):
        columns: dict[str, int] = {}
        for index, cell in enumerate(cells):
            field = _FIELD_OF.get(_key(cell))
            if field is not None and field not in columns:
                columns[field] = index
        if s.ENTRY_ID in columns and EXPERT in columns and any(d in columns for d in DIMENSIONS):
            return at, columns, cells
    return None


def read_expert_scores(path: Path) -> tuple[pd.DataFrame, list[Problem]]:
    """(valid rows as EXPERT_COLUMNS, problems). UnreadableFileError when the file or its header is unusable."""
    for grid in _grids(path):
        found = _header(grid)
        if found is not None:
            return _rows(path.name, grid, *found)
    need = "“条目编号”、“专家姓名”以及“紧迫度”/“解决难易度”/“市场推广”中至少一列"
    raise UnreadableFileError(path.name, f"前 {HEADER_SCAN_ROWS} 行内找不到专家评分表头：需要{need}")


def _rows(
    name: str, grid: Grid, at: int, columns: dict[str, int], cells: list[str]
) -> tuple[pd.DataFrame, list[Problem]]:
    labels = {f: f"“{cells[i].strip()}”列（{get_column_letter(i + 1)}）" for f, i in columns.items()}
    valid: list[dict[str, object]] = []
    problems: list[Problem] = []
    seen: dict[tuple[str, str], int] = {}
    for number, row in grid[at + 1 :]:
        values = {f: row[i].strip() if i < len(row) else "" for f, i in columns.items()}
        if not any(values.values()):
            continue
        record, found = _check(values, labels, name, number)
        key = (str(record[s.ENTRY_ID]), str(record[EXPERT]))
        if not found and key in seen:
            reason = f"专家“{key[1]}”对条目 {key[0]} 的评分已在第 {seen[key]} 行填写，本行重复，未导入"
            found = [Problem(name, number, labels[s.ENTRY_ID], reason)]
        problems += found
        if not found:
            seen[key] = number
            valid.append(record)
    frame = pd.DataFrame(valid, columns=EXPERT_COLUMNS)
    return frame.astype({d: "float64" for d in DIMENSIONS} | {SOURCE_ROW: "int64"}), problems


def _check(
    values: dict[str, str], labels: dict[str, str], name: str, row: int
) -> tuple[dict[str, object], list[Problem]]:
    """The row's record and what is wrong with it (every problem, not just the first)."""
    problems: list[Problem] = []
    entry, expert = values.get(s.ENTRY_ID, ""), values.get(EXPERT, "")
    if not entry:
        problems.append(Problem(name, row, labels[s.ENTRY_ID], "缺少条目编号（需求清单中的“条目编号”列）"))
    elif not _ENTRY_RE.fullmatch(entry):
        reason = f"条目编号“{entry}”格式不对：应为 C、G 或 S 加 16 位十六进制字符，请从需求清单复制"
        problems.append(Problem(name, row, labels[s.ENTRY_ID], reason))
    if not expert:
        problems.append(Problem(name, row, labels[EXPERT], "缺少专家姓名"))
    record: dict[str, object] = {s.ENTRY_ID: entry, EXPERT: expert, SOURCE_FILE: name, SOURCE_ROW: row}
    for dim in DIMENSIONS:
        record[dim], text = np.nan, values.get(dim, "")
        if not text:
            continue
        try:
            score = float(unicodedata.normalize("NFKC", text))
        except ValueError:
            problems.append(Problem(name, row, labels[dim], f"{DIMENSION_LABELS[dim]}“{text}”不是数字（应为 0-100）"))
            continue
        if not 0 <= score <= 100:
            problems.append(Problem(name, row, labels[dim], f"{DIMENSION_LABELS[dim]} {score:g} 超出 0-100"))
        record[dim] = score
    if all(not values.get(d, "") for d in DIMENSIONS):
        first = next(d for d in DIMENSIONS if d in labels)
        problems.append(Problem(name, row, labels[first], "三项评分均未填写"))
    return record, problems


def unknown_entries(scored: pd.DataFrame, expert: pd.DataFrame) -> list[Problem]:
    """Rows of `expert` whose entry id is not in `scored` (a list from another call, or a typo)."""
    known = set(scored[s.ENTRY_ID].astype(str))
    missing = expert[~expert[s.ENTRY_ID].isin(known)]
    return [
        Problem(str(r[SOURCE_FILE]), int(r[SOURCE_ROW]), "“条目编号”列", f"需求清单中没有条目 {r[s.ENTRY_ID]}")
        for r in missing.to_dict("records")
    ]


def apply_expert_scores(
    scored: pd.DataFrame, expert: pd.DataFrame, rubric: Rubric, mode: Literal["replace", "blend"] | None = None
) -> pd.DataFrame:
    """`scored` (score_entries output) with expert means replacing or blended into the dimension scores, the total,
    its evidence and SCORE_RANK recomputed, SCORE_SOURCE and SCORE_EXPERTS set. `mode` None: the rubric's."""
    mode = mode or rubric.expert.mode
    weight = 1.0 if mode == "replace" else rubric.expert.expert_weight
    means: dict[str, dict[str, float]] = {
        str(entry): {str(d): float(v) for d, v in values.items()}
        for entry, values in expert.groupby(s.ENTRY_ID)[list(DIMENSIONS)].mean().to_dict("index").items()
    }
    names = expert.groupby(s.ENTRY_ID)[EXPERT].agg(lambda v: "、".join(dict.fromkeys(v)))
    out = scored.copy()
    for index, row in scored.iterrows():
        entry = str(row[s.ENTRY_ID])
        if entry not in means:
            continue
        scores = {d: float(row[SCORE_OF[d]]) for d in DIMENSIONS}
        for dim in DIMENSIONS:
            mean = means[entry][dim]
            if np.isnan(mean):
                continue
            scores[dim] = round(weight * mean + (1 - weight) * scores[dim], 1)
            out.at[index, SCORE_OF[dim]] = scores[dim]
            out.at[index, EVIDENCE_OF[dim]] = _expert_evidence(dim, scores[dim], mean, row, weight, names[entry])
        total, why = total_of(scores, str(row[s.CHAIN_ID]), rubric)
        out.at[index, SCORE_TOTAL], out.at[index, SCORE_TOTAL_EVIDENCE] = total, why
        out.at[index, SCORE_SOURCE] = "expert" if mode == "replace" else "blend"
        out.at[index, SCORE_EXPERTS] = names[entry]
    return with_rank(out)


def _expert_evidence(dim: str, score: float, mean: float, row: pd.Series, weight: float, names: str) -> str:
    computed = float(row[SCORE_OF[dim]])
    basis = str(row[EVIDENCE_OF[dim]]).partition("：")[2]
    head = f"{DIMENSION_LABELS[dim]} {score:g}：专家评分 {mean:g}（{names}）"
    how = f"，替换计算分 {computed:g}" if weight == 1 else f"×{weight:g} + 计算分 {computed:g}×{1 - weight:g}"
    return f"{head}{how}；计算分依据：{basis}"
