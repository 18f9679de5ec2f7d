"""The draft list in the department's format (需求清单): demand_list.xlsx and demand_list.docx.

Columns: 序号, 需求名称, 所属产业/产业链, 主要内容, 提出企业数, 评分 (综合 / 紧迫度 / 难易度 / 市场推广), 提出企业,
备注. One section per chain (industries in their usual order), its entries ordered by their rank within the chain;
entries of one coarser cluster group (two or more entries of the chain) sit together under the group's label, the
group placed at its best-ranked entry. Entries staff rejected (entry_status 不采纳) are left out.

主要内容 is extractive: the first one or two sentences of the representative member's need (the member of the
largest duplicate group, then the longest text, then the smallest id), each followed by its source demand's own
number in brackets (the submitter's 需求编号, else the system id), so staff can see where every word came from.
The files themselves are written by `demand_list_files`.
"""

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from . import schema as s
from .normalize import strip_boilerplate
from .safe import is_missing
from .workbook import industry_of, industry_rank

REJECTED = "不采纳"  # decisions.ENTRY_STATUS value of an entry staff rejected
TOP_HEADERS = ("序号", "需求名称", "所属产业/产业链", "主要内容", "提出企业数", "评分", "提出企业", "备注")
SCORE_HEADERS = ("综合", "紧迫度", "难易度", "市场推广")
# the flat column list (评分 spans four columns), as written in the second header row
HEADERS = (*TOP_HEADERS[:5], *SCORE_HEADERS, *TOP_HEADERS[6:])
SCORE_SOURCES = ("score_total", "score_urgency", "score_difficulty", "score_market")
MAX_SENTENCES = 2
MAX_CONTENT_CHARS = 120  # the second sentence is added when both together are no longer than this
MAX_SENTENCE_CHARS = 160  # a longer sentence is cut, marked with "…"
MAX_OTHER_MEMBERS = 2  # members besides the representative that add a sentence to an entry's 主要内容
# a sentence ends at 。！？； or a newline; ASCII ! ? ; end one only before a space or the end ("A0!B" goes on)
_SENTENCE_RE = re.compile(r"(?:[^。！？；!?;\n]|[!?;](?=\S))+[。！？；!?;]?")
# a form's section label opening a sentence ("需求背景：", "二、主要内容："), possibly several in a row
_LEAD_LABEL_RE = re.compile(r"^(?:[一二三四五六七八九十\d]*[、.．)）]?\s*[\u4e00-\u9fff]{2,8}\s*[:：]\s*)+")
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
    """主要内容 of an entry, extractive: the representative's key sentences, then the first sentence of up to
    MAX_OTHER_MEMBERS other members (one per duplicate group, longest need first) that says something the chosen
    sentences do not; every sentence is followed by its source demand's number."""
    members = [by_id[i] for i in member_ids if i in by_id]
    rep = representative(members)
    if rep is None:
        return ""
    parts = [key_sentences(_str(rep.get(s.TEXT)), source_label(rep), _str(rep.get(s.TITLE)))]
    seen_groups = {_str(rep.get(s.DUPLICATE_GROUP)) or _str(rep.get(s.DEMAND_ID))}
    others = sorted(
        (m for m in members if m is not rep),
        key=lambda m: (-len(_str(m.get(s.CORE_TEXT)) or _str(m.get(s.TEXT))), _str(m.get(s.DEMAND_ID))),
    )
    for member in others:
        group = _str(member.get(s.DUPLICATE_GROUP)) or _str(member.get(s.DEMAND_ID))
        if group in seen_groups or len(parts) > MAX_OTHER_MEMBERS:
            continue
        seen_groups.add(group)
        first = key_sentences(_str(member.get(s.TEXT)), source_label(member), _str(member.get(s.TITLE)))
        first = first[: first.find("【")] + first[first.find("【") : first.find("】") + 1] if "【" in first else first
        if not any(_overlap(first, part) >= 0.6 for part in parts):
            parts.append(first)
    return "".join(parts)


def _overlap(a: str, b: str) -> float:
    """Share of a's character bigrams found in b: a near-repeat of a chosen sentence adds nothing."""
    grams = {a[i : i + 2] for i in range(len(a) - 1)}
    return len(grams & {b[i : i + 2] for i in range(len(b) - 1)}) / max(1, len(grams))


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
