"""Needs raised again: a demand of this call that duplicates demands of earlier calls is linked to the first of them.

"First" means the first submitted: earliest call (by the library's first run of each call), then source file, then
row, then demand id, so the link does not depend on row order. Re-running an earlier call never links its demands to
later calls. The history names every call and enterprise that asked for the need.
"""

from collections.abc import Mapping

import numpy as np
import pandas as pd

from . import schema as s

LINKED_DEMAND_ID, FIRST_CALL, RECURRING, HISTORY = s.LINKED_DEMAND_ID, s.FIRST_CALL, s.RECURRING, s.HISTORY
RECURRENCE_COLUMNS = (LINKED_DEMAND_ID, FIRST_CALL, RECURRING, HISTORY)


def call_order(runs: pd.DataFrame, current: str) -> dict[str, int]:
    """Calls by the start of their first run (library `runs()`); the current call comes last when it is new."""
    firsts = runs.groupby(s.CALL_ID)["started_at"].min().sort_values(kind="stable") if len(runs) else pd.Series()
    order = {str(call): i for i, call in enumerate(firsts.index)}
    order.setdefault(current, len(order))
    return order


def link_recurring(frame: pd.DataFrame, in_call: np.ndarray, order: Mapping[str, int]) -> pd.DataFrame:
    """Add RECURRENCE_COLUMNS. `frame` is the call plus library context with DUPLICATE_GROUP, CALL_ID, SOURCE_FILE,
    SOURCE_ROW, ENTERPRISE; `in_call` marks the call's rows. Context rows get empty values."""
    s.require_columns(frame, [s.DEMAND_ID, s.CALL_ID, s.DUPLICATE_GROUP, s.SOURCE_FILE, s.SOURCE_ROW], "recurrence")
    rank = frame[s.CALL_ID].map(lambda c: order.get(str(c), len(order))).to_numpy()
    narrow = frame[[s.DEMAND_ID, s.CALL_ID, s.DUPLICATE_GROUP]]
    keyed = narrow.assign(
        _rank=rank,
        _file=frame[s.SOURCE_FILE].fillna("").astype(str),
        _row=pd.to_numeric(frame[s.SOURCE_ROW], errors="coerce").fillna(0),
        _enterprise=frame[s.ENTERPRISE].fillna("").astype(str) if s.ENTERPRISE in frame else "",
    ).sort_values(["_rank", "_file", "_row", s.DEMAND_ID], kind="stable")
    linked = pd.Series("", index=frame.index, dtype=object)
    first_call = pd.Series("", index=frame.index, dtype=object)
    history = pd.Series("", index=frame.index, dtype=object)
    group = keyed[s.DUPLICATE_GROUP].fillna("").astype(str)
    first_rank = keyed["_rank"].groupby(group).transform("min")
    calling = in_call[frame.index.get_indexer(keyed.index)] & (keyed["_rank"] > first_rank).to_numpy()
    recurring = set(group[calling]) - {""}  # only groups where a call demand has an earlier member
    groups = keyed[group.isin(recurring)].groupby(s.DUPLICATE_GROUP, sort=False)
    for _, members in groups:
        for idx in members.index[in_call[frame.index.get_indexer(members.index)]]:
            mine = rank[frame.index.get_loc(idx)]
            earlier = members[members["_rank"] < mine]
            if earlier.empty:
                continue
            first = earlier.iloc[0]
            linked[idx], first_call[idx] = first[s.DEMAND_ID], first[s.CALL_ID]
            asked = members[members["_rank"] <= mine]
            history[idx] = "；".join(
                f"{call}：{'、'.join(dict.fromkeys(e for e in rows['_enterprise'] if e)) or '（未填企业）'}"
                for call, rows in asked.groupby(s.CALL_ID, sort=False)
            )
    out = frame.copy()
    out[LINKED_DEMAND_ID], out[FIRST_CALL], out[RECURRING], out[HISTORY] = linked, first_call, linked != "", history
    return out
