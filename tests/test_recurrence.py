"""Needs raised again across calls are linked to the first submitted earlier demand."""

import numpy as np
import pandas as pd

from pipelines import schema as s
from pipelines.recurrence import FIRST_CALL, HISTORY, LINKED_DEMAND_ID, RECURRING, call_order, link_recurring


def _frame() -> tuple[pd.DataFrame, np.ndarray]:
    rows = [  # demand, call, file, row, group, enterprise; c3 is the call being run
        ("D1", "c1", "a.xlsx", 5, "G1", "甲公司"),
        ("D2", "c1", "a.xlsx", 3, "G1", "乙公司"),  # same call, earlier row: the first submitted
        ("D3", "c2", "b.xlsx", 2, "G1", "丙公司"),
        ("D4", "c3", "c.xlsx", 2, "G1", "丁公司"),  # re-post of G1
        ("D5", "c3", "c.xlsx", 3, "G2", "戊公司"),  # duplicate only within this call: not recurring
        ("D6", "c3", "c.xlsx", 4, "G2", "戊公司"),
        ("D7", "c3", "c.xlsx", 5, "", "己公司"),
        ("D8", "c4", "d.xlsx", 2, "G3", "庚公司"),  # a later call (re-running c3): never linked to
        ("D9", "c3", "c.xlsx", 6, "G3", "辛公司"),
    ]
    frame = pd.DataFrame(
        rows, columns=[s.DEMAND_ID, s.CALL_ID, s.SOURCE_FILE, s.SOURCE_ROW, s.DUPLICATE_GROUP, s.ENTERPRISE]
    )
    return frame, (frame[s.CALL_ID] == "c3").to_numpy()


ORDER = {"c1": 0, "c2": 1, "c3": 2, "c4": 3}


def test_a_re_post_links_to_the_first_submitted_earlier_demand_with_its_history() -> None:
    frame, in_call = _frame()
    out = link_recurring(frame, in_call, ORDER).set_index(s.DEMAND_ID)
    assert out.loc["D4", [LINKED_DEMAND_ID, FIRST_CALL, RECURRING]].tolist() == ["D2", "c1", True]
    assert out.loc["D4", HISTORY] == "c1：乙公司、甲公司；c2：丙公司；c3：丁公司"
    for demand in ("D5", "D6", "D7", "D9"):  # within-call duplicates, singles, and links to later calls: none
        assert out.loc[demand, [LINKED_DEMAND_ID, RECURRING]].tolist() == ["", False]
    assert not out.loc[["D1", "D2", "D3", "D8"], RECURRING].any()  # context rows are left empty


def test_links_do_not_depend_on_row_order() -> None:
    frame, in_call = _frame()
    shuffled = frame.sample(frac=1.0, random_state=3)
    again = link_recurring(shuffled, in_call[shuffled.index], ORDER)
    first = link_recurring(frame, in_call, ORDER)
    assert again.sort_index()[[LINKED_DEMAND_ID, HISTORY]].equals(first[[LINKED_DEMAND_ID, HISTORY]])


def test_call_order_follows_first_runs_and_puts_a_new_call_last() -> None:
    runs = pd.DataFrame({s.CALL_ID: ["b", "a", "b"], "started_at": ["2026-03", "2026-05", "2026-09"]})
    assert call_order(runs, "new") == {"b": 0, "a": 1, "new": 2}
    assert call_order(runs, "b") == {"b": 0, "a": 1}
    assert call_order(runs.iloc[0:0], "x") == {"x": 0}
