"""Questions asked of the demand library (`ningliang library`): search, a demand's history, a chain's open demands,
and what is new / recurring / answered since the previous call. Pure functions over the Library's frames.

Terms:
- a call's place in time is the start of its first run (`Library.runs()`);
- a demand's entry is its draft-list entry after staff decisions (splits, merges); its status is 已撤回 when staff
  withdrew it, 已采纳 / 不采纳 when the latest accept / reject decision on its entry was taken while it was a member,
  else 待定;
- open = not withdrawn and not rejected; answered = withdrawn by staff or in an entry accepted by staff.
"""

import unicodedata
from dataclasses import dataclass

import pandas as pd

from . import migrations as m
from . import schema as s
from .decisions import WITHDRAWN, apply_staff_decisions, split_ids
from .errors import NingliangError

CALL_RANK = "call_rank"  # 0 = the earliest call
STATUS = "status"  # 已撤回 / 已采纳 / 不采纳 / 待定
DECIDED_AT = "decided_at"  # when the accept / reject / withdrawal behind STATUS was taken ("" when 待定)
ACCEPTED, REJECTED, PENDING, WITHDRAWN_LABEL = "已采纳", "不采纳", "待定", "已撤回"
EARLIER_CALLS = "earlier_calls"  # recurring demands: the earlier calls of their duplicate group, "、"-joined
FIRST_EARLIER = "first_earlier"  # recurring demands: the first submitted earlier demand of the group
SUBMISSION_ORDER = [CALL_RANK, s.SOURCE_FILE, s.SOURCE_ROW, s.DEMAND_ID]


class LibraryQueryError(NingliangError):
    """An id, call or chain the library does not hold (the message says which, in Chinese)."""


def call_ranks(runs: pd.DataFrame, demands: pd.DataFrame) -> dict[str, int]:
    """call id -> rank by the start of its first run (calls without a run last, by id)."""
    firsts = runs.groupby(s.CALL_ID)[m.STARTED_AT].min() if len(runs) else pd.Series(dtype=str)
    timed = sorted((str(at), str(call)) for call, at in firsts.items())
    order = [call for _, call in timed]
    order += sorted(set(demands[s.CALL_ID].astype(str)) - set(order))
    return {call: rank for rank, call in enumerate(order)}


def with_status(demands: pd.DataFrame, decisions: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """`demands` (Library.demands()) plus ENTRY_ID, DEMAND_STATUS, CALL_RANK, STATUS and DECIDED_AT, in submission
    order. `decisions` is Library.staff_decisions(), `runs` Library.runs()."""
    shaped = apply_staff_decisions(demands, decisions)
    withdrawn: dict[str, str] = {}  # demand id -> when withdrawn
    verdicts: dict[str, tuple[str, frozenset[str], str]] = {}  # entry id -> (latest verdict, members then, when)
    for d in decisions.sort_values(m.AT, kind="stable").to_dict("records"):
        if d["action"] == "withdraw":
            withdrawn.update(dict.fromkeys(split_ids(d["demand_ids"]), str(d[m.AT])))
        elif d["action"] in ("accept", "reject"):
            label = ACCEPTED if d["action"] == "accept" else REJECTED
            verdicts[str(d[s.ENTRY_ID])] = (label, frozenset(split_ids(d["members"])), str(d[m.AT]))
    status, when = [], []
    for demand, entry, state in zip(shaped[s.DEMAND_ID], shaped[s.ENTRY_ID], shaped[s.DEMAND_STATUS], strict=True):
        label, members, at = verdicts.get(str(entry), (PENDING, frozenset(), ""))
        if state == WITHDRAWN:
            label, at = WITHDRAWN_LABEL, withdrawn.get(str(demand), "")
        elif str(demand) not in members:  # joined the entry after the verdict: not decided yet
            label, at = PENDING, ""
        status.append(label)
        when.append(at)
    ranks = shaped[s.CALL_ID].astype(str).map(call_ranks(runs, demands))
    out = shaped.copy()
    out[CALL_RANK], out[STATUS], out[DECIDED_AT] = ranks, status, when
    return out.sort_values(SUBMISSION_ORDER, kind="stable", ignore_index=True)


def _plain(text: object) -> str:
    return unicodedata.normalize("NFKC", str(text or "")).casefold()


def require_call(frame: pd.DataFrame, call_id: str | None) -> None:
    if call_id is not None and not (frame[s.CALL_ID].astype(str) == call_id).any():
        known = "、".join(dict.fromkeys(frame.sort_values(CALL_RANK)[s.CALL_ID].astype(str))) or "无"
        raise LibraryQueryError(f"需求库中没有批次“{call_id}”（已有批次：{known}）")


def require_chain(frame: pd.DataFrame, chain_id: str | None) -> None:
    if chain_id is not None and not (frame[s.CHAIN_ID].fillna("").astype(str) == chain_id).any():
        raise LibraryQueryError(f"需求库中没有产业链“{chain_id}”的需求（请检查产业链编号，如 EC-BATT）")


def search(frame: pd.DataFrame, text: str, chain_id: str | None = None, call_id: str | None = None) -> pd.DataFrame:
    """Demands of `frame` (with_status output) whose title or text contains `text` (NFKC, case-insensitive), newest
    call first, then in submission order."""
    require_call(frame, call_id)
    require_chain(frame, chain_id)
    needle = _plain(text).strip()
    hay = frame[s.TITLE].map(_plain) + "\n" + frame[s.TEXT].map(_plain)
    hit = hay.str.contains(needle, regex=False)
    if chain_id is not None:
        hit &= frame[s.CHAIN_ID].fillna("").astype(str) == chain_id
    if call_id is not None:
        hit &= frame[s.CALL_ID].astype(str) == call_id
    found = frame[hit]
    return found.sort_values([CALL_RANK, s.SOURCE_FILE, s.SOURCE_ROW], ascending=[False, True, True], kind="stable")


def find_demand(frame: pd.DataFrame, key: str) -> pd.Series:
    """The demand whose demand_id is `key`, else the only one whose external id (原始编号) is `key`."""
    by_id = frame[frame[s.DEMAND_ID].astype(str) == key]
    if len(by_id):
        return by_id.iloc[0]
    by_external = frame[frame[s.EXTERNAL_ID].fillna("").astype(str) == key]
    if len(by_external) == 1:
        return by_external.iloc[0]
    if len(by_external) > 1:
        choices = "、".join(f"{r[s.DEMAND_ID]}（批次 {r[s.CALL_ID]}）" for r in by_external.to_dict("records"))
        raise LibraryQueryError(f"原始编号“{key}”对应多条需求，请改用需求编号：{choices}")
    raise LibraryQueryError(f"需求库中没有需求编号或原始编号为“{key}”的需求")


@dataclass(frozen=True)
class History:
    demand: pd.Series  # the demand (with_status row)
    group: pd.DataFrame  # its duplicate group (itself included), in submission order
    events: pd.DataFrame  # events on it and staff decisions / expert scores on its entries, in time order


def history(frame: pd.DataFrame, decisions: pd.DataFrame, events: pd.DataFrame, key: str) -> History:
    """The demand `key` (id or external id), its duplicate group across calls and its events in time order."""
    demand = find_demand(frame, key)
    group_id = str(demand[s.DUPLICATE_GROUP] or "")
    group = frame[frame[s.DUPLICATE_GROUP].fillna("").astype(str) == group_id] if group_id else frame.iloc[0:0]
    own = events[events[s.DEMAND_ID].astype(str) == str(demand[s.DEMAND_ID])]
    entries = _entries_of(decisions, str(demand[s.DEMAND_ID])) | {str(demand[s.ENTRY_ID])}
    entry_events = events[
        events[m.KIND].isin(["staff_decision", "expert_score"]) & events[m.OLD_VALUE].astype(str).isin(entries)
    ]
    timeline = pd.concat([own, entry_events]).sort_values([m.AT, m.EVENT_ID], kind="stable", ignore_index=True)
    return History(demand, group if len(group) else frame[frame[s.DEMAND_ID] == demand[s.DEMAND_ID]], timeline)


def _entries_of(decisions: pd.DataFrame, demand_id: str) -> set[str]:
    """Entries the demand belonged to when staff decided on them (members), or that a decision named it in."""
    out = set()
    for d in decisions.to_dict("records"):
        if demand_id in split_ids(d["members"]) or demand_id in split_ids(d["demand_ids"]):
            out.add(str(d[s.ENTRY_ID]))
    return out


def open_demands(frame: pd.DataFrame, chain_id: str) -> pd.DataFrame:
    """The chain's open demands (not withdrawn, not rejected), by entry (largest entries first), then submission."""
    require_chain(frame, chain_id)
    mine = frame[
        (frame[s.CHAIN_ID].fillna("").astype(str) == chain_id) & ~frame[STATUS].isin([WITHDRAWN_LABEL, REJECTED])
    ]
    size = mine.groupby(s.ENTRY_ID)[s.DEMAND_ID].transform("size")
    ordered = mine.assign(_size=size).sort_values(
        ["_size", s.ENTRY_ID, *SUBMISSION_ORDER], ascending=[False] + [True] * 5
    )
    return ordered.drop(columns="_size")


@dataclass(frozen=True)
class Since:
    call_id: str
    previous: str | None  # the call before it (None for the first call)
    new: pd.DataFrame  # the call's demands with no earlier duplicate
    recurring: pd.DataFrame  # the call's demands whose duplicate group holds earlier calls' demands (+ EARLIER_CALLS)
    answered: pd.DataFrame  # earlier calls' demands withdrawn or accepted since the previous call began


def since(frame: pd.DataFrame, runs: pd.DataFrame, call_id: str | None = None) -> Since:
    """New / recurring / answered for `call_id` (default: the latest call)."""
    if frame.empty:
        raise LibraryQueryError("需求库中还没有任何需求")
    require_call(frame, call_id)
    rank_of = frame.drop_duplicates(s.CALL_ID).set_index(s.CALL_ID)[CALL_RANK]
    call = call_id if call_id is not None else str(rank_of.idxmax())
    rank = int(rank_of[call])
    earlier_calls = rank_of[rank_of < rank].sort_values()
    previous = str(earlier_calls.index[-1]) if len(earlier_calls) else None
    mine = frame[frame[s.CALL_ID].astype(str) == call]
    earlier = frame[frame[CALL_RANK] < rank]
    groups = earlier[earlier[s.DUPLICATE_GROUP].fillna("") != ""].groupby(s.DUPLICATE_GROUP)
    calls_of = {str(g): "、".join(dict.fromkeys(rows[s.CALL_ID].astype(str))) for g, rows in groups}
    first_of = {str(g): str(rows[s.DEMAND_ID].iloc[0]) for g, rows in groups}
    group = mine[s.DUPLICATE_GROUP].fillna("").astype(str)
    again = group.isin(list(calls_of))
    recurring = mine[again].copy()
    recurring[EARLIER_CALLS], recurring[FIRST_EARLIER] = group[again].map(calls_of), group[again].map(first_of)
    new = mine[~again]
    start = runs[runs[s.CALL_ID].astype(str) == previous][m.STARTED_AT].min() if previous else None
    answered = earlier[earlier[STATUS].isin([ACCEPTED, WITHDRAWN_LABEL])]
    if start is not None and isinstance(start, str):
        answered = answered[answered[DECIDED_AT].astype(str) >= start]
    return Since(call, previous, new, recurring, answered)
