"""Incomplete demands and the per-enterprise return list staff send back before the next round.

A demand is incomplete when it states no quantified target (no number with a unit, no ≥ / ≤, no percentage in
its title or description) and/or does not describe the technical difficulty (a description shorter than the
rubric's minimum, or without any wording of a difficulty such as 难点 / 瓶颈 / 无法). The cues are rubric data
(`completeness` in data/rubric/scoring.yaml). Pure functions over the demands frame.
"""

from typing import Any

import pandas as pd

from . import schema as s
from .rubric import CompletenessRule
from .signals import quantified_targets

MISSING_TARGET = "missing_target"  # bool: no quantified technical indicator
MISSING_DIFFICULTY = "missing_difficulty"  # bool: the technical difficulty is not described
INCOMPLETE = "incomplete"  # bool: either of the two
INCOMPLETE_REASON = "incomplete_reason"  # Chinese, "缺少量化技术指标；缺少技术难点描述", "" when complete
TARGET_REASON = "缺少量化技术指标（如精度、效率、寿命等带单位的目标值）"
DIFFICULTY_REASON = "缺少技术难点描述（现有技术存在什么问题、卡在哪里）"
DEFAULT_RULE = CompletenessRule()

DEMAND_COUNT = "demand_count"
DEMANDS = "demands"  # "；"-joined "《title》（编号 …）"
MISSING = "missing"  # "；"-joined "《title》：what is missing"
RETURN_LIST_COLUMNS = [s.ENTERPRISE, s.CREDIT_CODE, s.CONTACT, s.PHONE, DEMAND_COUNT, DEMANDS, MISSING]
RETURN_LIST_HEADERS = {  # the Chinese header of each return-list column, for the staff's workbook
    s.ENTERPRISE: "企业名称",
    s.CREDIT_CODE: "统一社会信用代码",
    s.CONTACT: "联系人",
    s.PHONE: "联系电话",
    DEMAND_COUNT: "需补充的需求条数",
    DEMANDS: "需求（名称与编号）",
    MISSING: "需补充的内容",
}


def _text(demands: pd.DataFrame, column: str) -> pd.Series:
    if column not in demands.columns:
        return pd.Series("", index=demands.index)
    return demands[column].fillna("").astype(str)


def _describes_difficulty(text: str, rule: CompletenessRule) -> bool:
    return len(text.strip()) >= rule.min_difficulty_chars and any(cue in text for cue in rule.difficulty_cues)


def flag_incomplete(demands: pd.DataFrame, rule: CompletenessRule = DEFAULT_RULE) -> pd.DataFrame:
    """`demands` with MISSING_TARGET, MISSING_DIFFICULTY, INCOMPLETE (bool) and INCOMPLETE_REASON added.

    Input columns: TITLE, TEXT (the description; empty for a title-only demand).
    """
    s.require_columns(demands, [s.TITLE, s.TEXT], "completeness")
    title, text = _text(demands, s.TITLE), _text(demands, s.TEXT)
    no_target = [not quantified_targets(f"{a}\n{b}") for a, b in zip(title, text, strict=True)]
    no_difficulty = [not _describes_difficulty(b, rule) for b in text]
    reasons = [
        "；".join(r for r, missing in ((TARGET_REASON, t), (DIFFICULTY_REASON, d)) if missing)
        for t, d in zip(no_target, no_difficulty, strict=True)
    ]
    added = {
        MISSING_TARGET: no_target,
        MISSING_DIFFICULTY: no_difficulty,
        INCOMPLETE: [t or d for t, d in zip(no_target, no_difficulty, strict=True)],
        INCOMPLETE_REASON: reasons,
    }
    return demands.assign(**{c: pd.Series(v, index=demands.index) for c, v in added.items()})


def _demand_refs(demands: pd.DataFrame) -> list[str]:
    """Per demand: "《title》（编号 external id，file 第 row 行）", the demand id when the file and row are unknown."""
    where = [""] * len(demands)
    if s.SOURCE_FILE in demands and s.SOURCE_ROW in demands:
        where = [f"{f} 第 {r} 行" for f, r in zip(demands[s.SOURCE_FILE], demands[s.SOURCE_ROW], strict=True)]
    out = []
    for title, external, place, demand in zip(
        _text(demands, s.TITLE), _text(demands, s.EXTERNAL_ID), where, _text(demands, s.DEMAND_ID), strict=True
    ):
        ids = [f"编号 {external}" if external else "", place or demand]
        out.append(f"《{title}》（{'，'.join(i for i in ids if i)}）")
    return out


def return_list(demands: pd.DataFrame, rule: CompletenessRule = DEFAULT_RULE) -> pd.DataFrame:
    """RETURN_LIST_COLUMNS, one row per enterprise with at least one incomplete demand, sorted by enterprise name.

    Enterprises are told apart by credit code when given, else by name. Contact columns are filled when the
    demands carry them (first non-empty value), else left "". Flags are computed when `demands` lacks them.
    """
    flagged = demands if INCOMPLETE in demands.columns else flag_incomplete(demands, rule)
    todo = flagged[flagged[INCOMPLETE].astype(bool)]
    code, name = _text(todo, s.CREDIT_CODE).str.strip().str.upper(), _text(todo, s.ENTERPRISE).str.strip()
    key = ("code:" + code).where(code != "", "name:" + name)
    read = [*RETURN_LIST_COLUMNS[:4], s.EXTERNAL_ID, s.SOURCE_FILE, s.SOURCE_ROW, s.DEMAND_ID, s.TITLE]
    narrow = todo[[c for c in dict.fromkeys(read) if c in todo] + [INCOMPLETE_REASON]].assign(_key=key)
    narrow = narrow.sort_values([c for c in (s.SOURCE_FILE, s.SOURCE_ROW, s.DEMAND_ID) if c in narrow])
    key = narrow["_key"]

    def per_enterprise(values: pd.Series | list[str], how: Any) -> pd.Series:  # in file / row order
        return pd.Series(values, index=narrow.index).groupby(key, sort=False).agg(how)

    out = pd.DataFrame(
        {
            c: per_enterprise(_text(narrow, c).replace(r"^\s*$", None, regex=True), "first")
            for c in RETURN_LIST_COLUMNS[:4]
        }
    ).fillna("")  # the first non-empty value
    refs = _demand_refs(narrow)
    out[DEMAND_COUNT] = per_enterprise(refs, "size")
    out[DEMANDS] = per_enterprise(refs, "；".join)
    out[MISSING] = per_enterprise(
        "《" + _text(narrow, s.TITLE) + "》：" + narrow[INCOMPLETE_REASON].astype(str), "；".join
    )
    out = out.reset_index(drop=True).reindex(columns=RETURN_LIST_COLUMNS)
    return out.sort_values([s.ENTERPRISE, s.CREDIT_CODE], kind="stable", ignore_index=True)
