import pandas as pd

from pipelines import schema as s
from pipelines.dedup import compact, find_duplicates, jaccard, shingles
from pipelines.settings import DedupConfig

BASE = "开发高镍三元正极材料包覆改性工艺，提升循环寿命至2000次以上，首次效率不低于90%，满足动力电池量产要求。"


def _frame(rows: list[tuple[str, str]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=[s.DEMAND_ID, s.CORE_TEXT])


def test_compact_ignores_punctuation_width_and_case() -> None:
    assert compact("ABC，电池 容量!") == compact("abc,电池容量")


def test_shingles_and_jaccard() -> None:
    assert shingles("锂电池", 3) == {"锂电池"}
    assert jaccard(shingles("锂电池隔膜", 3), shingles("锂电池隔膜", 3)) == 1.0
    assert jaccard(set(), set()) == 0.0


def test_exact_copies_share_a_group_and_say_why() -> None:
    out = find_duplicates(
        _frame([("D02", BASE), ("D01", BASE.replace("，", ",")), ("D03", "白酒窖池温度监测")]), DedupConfig()
    )
    assert out.loc[0, s.DUPLICATE_GROUP] == out.loc[1, s.DUPLICATE_GROUP] == "G01"
    assert set(out[s.DUPLICATE_KIND][:2]) == {"exact"}
    assert out.loc[2, s.DUPLICATE_GROUP] == ""
    copy = out[out[s.DUPLICATE_OF] != ""].iloc[0]
    assert "完全相同" in copy[s.DUPLICATE_REASON] and copy[s.DUPLICATE_SCORE] == 1.0


def test_near_copy_is_grouped_with_its_score() -> None:
    edited = BASE.replace("2000次", "2500次")
    out = find_duplicates(_frame([("D01", BASE), ("D02", edited)]), DedupConfig())
    assert out.loc[1, s.DUPLICATE_GROUP] == "G01"
    near = out[out[s.DUPLICATE_OF] != ""].iloc[0]
    assert near[s.DUPLICATE_KIND] == "near"
    assert 0.7 <= near[s.DUPLICATE_SCORE] < 1.0
    assert "Jaccard" in near[s.DUPLICATE_REASON]


def test_different_needs_on_the_same_template_stay_apart() -> None:
    other = "开发磷酸铁锂正极材料碳包覆工艺，提升低温放电容量至85%以上，压实密度不低于2.5，满足储能电池量产要求。"
    out = find_duplicates(_frame([("D01", BASE), ("D02", other)]), DedupConfig())
    assert set(out[s.DUPLICATE_GROUP]) == {""}


def test_row_order_does_not_change_groups() -> None:
    rows = [("D01", BASE), ("D02", BASE), ("D03", BASE.replace("90%", "92%")), ("D04", "钛白粉氯化工艺")]
    a = find_duplicates(_frame(rows), DedupConfig()).set_index(s.DEMAND_ID).sort_index()
    b = find_duplicates(_frame(rows[::-1]), DedupConfig()).set_index(s.DEMAND_ID).sort_index()
    pd.testing.assert_frame_equal(a, b)


def test_input_is_not_mutated_and_duplicates_are_kept() -> None:
    frame = _frame([("D01", BASE), ("D02", BASE)])
    before = frame.copy()
    out = find_duplicates(frame, DedupConfig())
    pd.testing.assert_frame_equal(frame, before)
    assert len(out) == 2
