"""Staff decisions on draft-list entries: accept, reject, merge into another entry, split members out, retitle,
withdraw a demand. Checked row by row (an invalid row is reported, never applied), stored in the library, and
applied by every later run before the draft list is built:

- a withdrawn demand leaves the draft list (it stays in the library, marked withdrawn);
- a demand split out of its entry stays its own entry, whatever later clustering says;
- a merged entry's members join the target entry (merges chain: A into B into C puts A's members in C);
- a retitled entry keeps the staff's title;
- a rejected entry stays rejected while its members are the ones it had when rejected; when new demands have
  joined it comes back for review, marked as such (a rejected entry never comes back unchanged);
- an accepted entry is marked accepted (again only while its members are unchanged).
Pure functions over DataFrames; storage is `decision_store.DecisionsMixin`.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from . import schema as s
from .corrections import Problem
from .drafts import entry_ids

ACTIONS = {
    "采纳": "accept", "不采纳": "reject", "合并": "merge", "拆分": "split", "改标题": "retitle", "撤回": "withdraw",
}  # fmt: skip
PENDING = "待定"  # a valid answer that decides nothing
ACTION_LABELS = {code: label for label, code in ACTIONS.items()}
NEEDS_REASON = ("reject", "merge", "split", "withdraw")
ENTRY_STATUS = "entry_status"  # drafts: 已采纳 / 不采纳 / 待审（曾不采纳，成员有变化）/ ""
STAFF_NOTE = "staff_note"  # drafts: the decisions behind the entry, who, when, why
DEMAND_STATUS = s.DEMAND_STATUS  # demands: "withdrawn" or ""
WITHDRAWN = "withdrawn"
DECISION_COLUMNS = [
    s.ENTRY_ID, "action", "target", "demand_ids", "new_title", "members", "reviewer", "reason", s.SOURCE_FILE,
    s.SOURCE_ROW, "at",
]  # fmt: skip


@dataclass(frozen=True)
class StaffDecision:
    """One decision row as read from a returned draft workbook or CSV."""

    entry_id: str
    action: str  # a code of ACTIONS
    reviewer: str
    reason: str = ""
    target: str = ""
    demand_ids: tuple[str, ...] = ()
    new_title: str = ""
    source_file: str = ""
    source_row: int = 0

    def problem(self, column: str, reason: str) -> Problem:
        return Problem(self.source_file, self.source_row, column, reason)


def current_entries(demands: pd.DataFrame, decisions: pd.DataFrame) -> dict[str, frozenset[str]]:
    """entry id -> member demand ids, after the decisions already taken (what staff see in the draft list)."""
    shaped = apply_staff_decisions(demands, decisions)
    kept = shaped[shaped[DEMAND_STATUS] != WITHDRAWN]
    return {str(e): frozenset(m) for e, m in kept.groupby(s.ENTRY_ID)[s.DEMAND_ID]}


def check_decision(d: StaffDecision, entries: Mapping[str, frozenset[str]]) -> StaffDecision | Problem:
    """The decision if it can be applied to `entries`, else the reason (Chinese) naming the column."""
    if d.entry_id not in entries:
        return d.problem("条目编号", f"需求库中没有条目“{d.entry_id}”（未知条目）")
    if not d.reviewer.strip():
        return d.problem("审核人", "缺少审核人")
    if d.action in NEEDS_REASON and not d.reason.strip():
        return d.problem("备注", f"“{ACTION_LABELS[d.action]}”需要在备注中说明理由")
    members = entries[d.entry_id]
    if d.action == "merge":
        if not d.target:
            return d.problem("合并至条目", "“合并”需要填写合并至哪个条目")
        if d.target == d.entry_id or d.target not in entries:
            return d.problem("合并至条目", f"合并目标“{d.target}”不是另一个已有条目")
    if d.action in ("split", "withdraw"):
        if not d.demand_ids:
            return d.problem("涉及需求编号", f"“{ACTION_LABELS[d.action]}”需要填写涉及的需求编号（分号分隔）")
        if strangers := [i for i in d.demand_ids if i not in members]:
            return d.problem("涉及需求编号", f"需求 {'、'.join(strangers)} 不在条目“{d.entry_id}”中")
        if d.action == "split" and set(d.demand_ids) >= members:
            return d.problem("涉及需求编号", "不能把条目的全部需求都拆出（请改用“不采纳”或“撤回”）")
    if d.action == "retitle" and not (0 < len(d.new_title.strip()) <= 200):
        return d.problem("新标题", "“改标题”需要 1-200 字的新标题")
    return d


def apply_staff_decisions(demands: pd.DataFrame, decisions: pd.DataFrame) -> pd.DataFrame:
    """Add ENTRY_ID (the entry after splits and merges) and DEMAND_STATUS (withdrawn or "") to `demands`.

    `decisions` has DECISION_COLUMNS (the library's stored decisions), applied in time order.
    """
    ids = demands[s.DEMAND_ID].astype(str).tolist()
    entry = dict(zip(ids, entry_ids(demands).tolist(), strict=True))
    status = dict.fromkeys(ids, "")
    merged_into: dict[str, str] = {}
    for d in decisions.sort_values("at", kind="stable").to_dict("records"):
        chosen = [i for i in split_ids(d["demand_ids"]) if i in entry]
        if d["action"] == "withdraw":
            status.update(dict.fromkeys(chosen, WITHDRAWN))
        elif d["action"] == "split":
            entry.update({i: "S" + i[1:] for i in chosen})
        elif d["action"] == "merge":
            merged_into[str(d[s.ENTRY_ID])] = str(d["target"])
    return demands.assign(
        **{s.ENTRY_ID: [_final(entry[i], merged_into) for i in ids], DEMAND_STATUS: [status[i] for i in ids]}
    )


def _final(entry: str, merged_into: Mapping[str, str]) -> str:
    seen = {entry}
    while entry in merged_into and merged_into[entry] not in seen:
        entry = merged_into[entry]
        seen.add(entry)
    return entry


def decorate_drafts(drafts: pd.DataFrame, decisions: pd.DataFrame) -> pd.DataFrame:
    """Add ENTRY_STATUS and STAFF_NOTE, and the staff's title over the drafted one, to the draft entries."""
    status, notes, titles = [], [], []
    by_entry = {str(e): g.sort_values("at", kind="stable") for e, g in decisions.groupby(s.ENTRY_ID)}
    for entry, members, title in zip(drafts[s.ENTRY_ID], drafts["member_ids"], drafts["draft_title"], strict=True):
        taken = by_entry.get(str(entry), pd.DataFrame(columns=DECISION_COLUMNS))
        verdicts = taken[taken["action"].isin(["accept", "reject"])]
        state = ""
        if len(verdicts):
            last = verdicts.iloc[-1]
            # unchanged: no member the decision did not see (a draft shows one call's members, a decision may
            # have seen the entry's members across calls)
            same = set(str(members).split(";")) <= set(str(last["members"]).split(";"))
            if last["action"] == "reject":
                state = "不采纳" if same else "待审（曾不采纳，成员有变化）"
            else:
                state = "已采纳" if same else "待审（曾采纳，成员有变化）"
        retitled = taken[taken["action"] == "retitle"]
        titles.append(str(retitled.iloc[-1]["new_title"]) if len(retitled) else title)
        status.append(state)
        notes.append("；".join(_note(r) for r in taken.to_dict("records")))
    return drafts.assign(**{"draft_title": titles, ENTRY_STATUS: status, STAFF_NOTE: notes})


def _note(r: Mapping[Any, Any]) -> str:
    action = str(r["action"])
    target, reason = str(r.get("target") or ""), str(r.get("reason") or "")
    head = f"{r['reviewer']} {str(r['at'])[:10]} {ACTION_LABELS.get(action, action)}"
    return head + (f"→{target}" if target else "") + (f"：{reason}" if reason else "")


def parse_action(text: str) -> str | None:
    """The action code of a 审核意见 cell; "" for 待定 or blank (nothing decided); None when unknown."""
    text = str(text or "").strip()
    if text in ("", PENDING):
        return ""
    return ACTIONS.get(text)


def split_ids(text: object) -> tuple[str, ...]:
    return tuple(dict.fromkeys(p.strip() for p in str(text or "").replace("；", ";").split(";") if p.strip()))


def as_frame(decisions: Sequence[StaffDecision], entries: Mapping[str, frozenset[str]], at: str) -> pd.DataFrame:
    """Stored form of checked decisions (members = the entry's members when decided)."""
    rows = [
        {
            s.ENTRY_ID: d.entry_id, "action": d.action, "target": d.target, "demand_ids": ";".join(d.demand_ids),
            "new_title": d.new_title, "members": ";".join(sorted(entries[d.entry_id])), "reviewer": d.reviewer,
            "reason": d.reason, s.SOURCE_FILE: d.source_file, s.SOURCE_ROW: d.source_row, "at": at,
        }
        for d in decisions
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=DECISION_COLUMNS)
