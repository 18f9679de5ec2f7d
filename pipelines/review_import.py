"""Returned review rows -> Corrections: the verdict columns read, external ids resolved, problems named.

Pure: the library's answer to "which demands have these external ids" is passed in (`Library.demands_by_external_id`).
A review workbook row is read by its 审核结论: 确认 takes the ids shown (当前产业编号 / 当前产业链编号), 更正 (or
no verdict but corrected ids filled) the corrected ids; a row with neither is not reviewed and skipped. A plain
correction list (CSV) row always carries the decided ids.
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from . import migrations as m
from . import schema as s
from .corrections import CURRENT_CHAIN_ID, CURRENT_INDUSTRY_ID, Correction, Problem
from .review_workbook import CONFIRM, CORRECT, VERDICT, ReviewFile, ReviewRow

Lookup = Mapping[str, Sequence[tuple[str, str]]]  # external_id -> [(demand_id, call_id), ...]


@dataclass
class ReadRows:
    """What the returned files say: corrections to apply, invalid rows, rows left blank (not reviewed)."""

    corrections: list[Correction] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    blank: int = 0


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
