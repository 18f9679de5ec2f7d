import numpy as np
import pandas as pd
import pytest

from pipelines import schema as s
from pipelines.dedup import PAIR_COLUMNS, detect_pairs, find_duplicates, group_duplicates
from pipelines.embed import USEEncoder, demand_vectors
from pipelines.normalize import normalize_demands
from pipelines.segment import Segmenter, segment_demands
from pipelines.settings import DedupConfig, EmbedConfig, NormalizeConfig, SegmentConfig
from pipelines.similarity import bigrams, compact, jaccard, ngram_matrix, pair_jaccard, shingles

BASE = "开发高镍三元正极材料包覆改性工艺，提升循环寿命至2000次以上，首次效率不低于90%，满足动力电池量产要求。"
FILLER = [
    ("白酒窖池温度智能监测系统", "对浓香型白酒窖池发酵温度进行实时监测，测温精度0.5度。"),
    ("钛白粉氯化法工艺优化", "降低氯化法钛白粉生产能耗，提高产品白度。"),
    ("中药配方颗粒质量标准研究", "建立中药配方颗粒特征图谱与含量测定方法。"),
    ("城轨车辆转向架轻量化设计", "采用新材料降低转向架重量百分之十五。"),
    ("光伏组件回收拆解技术", "实现退役光伏组件玻璃与硅片高值化回收。"),
]


@pytest.fixture(scope="module")
def segmenter() -> Segmenter:
    return Segmenter(SegmentConfig(), ["磷酸铁锂", "三元材料", "芳纶", "碳纤维"]).fit()


def _frame(rows: list[tuple[str, str, str]], segmenter: Segmenter) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=[s.DEMAND_ID, s.TITLE, s.TEXT])
    return segment_demands(normalize_demands(frame, NormalizeConfig()), segmenter)


def _with_filler(rows: list[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    return rows + [(f"DF{i}", t, x) for i, (t, x) in enumerate(FILLER)]


def test_compact_ignores_punctuation_width_and_case() -> None:
    assert compact("ABC，电池 容量!") == compact("abc,电池容量")


def test_shingles_and_jaccard() -> None:
    assert shingles("锂电池", 3) == {"锂电池"}
    assert jaccard(shingles("锂电池隔膜", 3), shingles("锂电池隔膜", 3)) == 1.0
    assert jaccard(set(), set()) == 0.0


@pytest.mark.parametrize("size", [2, 3, 4])
def test_set_matrices_give_the_jaccard_of_the_python_sets(size: int) -> None:
    texts = ["锂电池隔膜材料", "锂电池", "锂电", "", "电池隔膜", "ab", "a", "𠀀𠀁电池隔膜", "隔膜材料锂电池"]
    for empty_is_item in (False, True):
        matrix = ngram_matrix(texts, size, empty_is_item)
        sets = [shingles(t, size) or ({""} if empty_is_item else set()) for t in texts]
        if size == 2 and empty_is_item:
            assert sets == [set(bigrams(t)) for t in texts]
        a, b = np.divmod(np.arange(len(texts) ** 2), len(texts))
        expected = [jaccard(sets[i], sets[j]) for i, j in zip(a, b, strict=True)]
        assert pair_jaccard(matrix, a, b).tolist() == expected


def test_exact_copies_share_a_group_and_say_why(segmenter: Segmenter) -> None:
    rows = [
        ("D02", "正极包覆", BASE),
        ("D01", "正极包覆", BASE.replace("，", ",")),
        ("D03", "窖池监测", "白酒窖池温度监测"),
    ]
    out = find_duplicates(_frame(rows, segmenter), DedupConfig())
    assert out.loc[0, s.DUPLICATE_GROUP] == out.loc[1, s.DUPLICATE_GROUP] == "G01"
    assert set(out[s.DUPLICATE_KIND][:2]) == {"exact"}
    assert out.loc[2, s.DUPLICATE_GROUP] == ""
    copy = out[out[s.DUPLICATE_OF] != ""].iloc[0]
    assert "完全相同" in copy[s.DUPLICATE_REASON] and copy[s.DUPLICATE_SCORE] == 1.0


def test_near_copy_is_grouped_with_its_score(segmenter: Segmenter) -> None:
    rows = [("D01", "正极包覆", BASE), ("D02", "正极包覆", BASE.replace("2000次", "2500次"))]
    out = find_duplicates(_frame(rows, segmenter), DedupConfig())
    assert out.loc[1, s.DUPLICATE_GROUP] == "G01"
    near = out[out[s.DUPLICATE_OF] != ""].iloc[0]
    assert near[s.DUPLICATE_KIND] == "near" and 0.7 <= near[s.DUPLICATE_SCORE] < 1.0


def test_same_template_different_object_is_kept_apart_with_the_reason(segmenter: Segmenter) -> None:
    template = "面向航空航天的{}规模化生产技术研发，提高纤维强度与批次稳定性，降低生产成本百分之二十以上。"
    rows = _with_filler(
        [
            ("D01", "面向航空航天的芳纶纤维规模化生产技术研发", template.format("芳纶纤维")),
            ("D02", "面向航空航天的高强碳纤维规模化生产技术研发", template.format("高强碳纤维")),
        ]
    )
    frame = _frame(rows, segmenter)
    _, _, full = demand_vectors(frame, USEEncoder(), EmbedConfig(cache_dir=None))
    pairs = detect_pairs(frame, DedupConfig(), full)
    assert list(pairs.columns) == PAIR_COLUMNS
    pair = pairs[(pairs["demand_a"] == "D01") & (pairs["demand_b"] == "D02")].iloc[0]
    assert pair["decision"] == "kept_apart" and "对象不同" in pair["reason"]
    assert "芳纶" in pair["conflicting_terms"]
    assert find_duplicates(frame, DedupConfig(), full).loc[0, s.DUPLICATE_GROUP] == ""


def test_a_reworded_repost_joins_its_original(segmenter: Segmenter) -> None:
    rows = _with_filler(
        [
            ("D01", "高镍三元正极材料包覆改性技术研发", BASE),
            (
                "D02",
                "关于高镍三元正极材料包覆改性的技术开发需求",
                "拟开发高镍三元正极材料的表面包覆改性工艺，使电池循环寿命达到2000次以上，首效不低于90%，满足动力电池规模化生产。",
            ),
        ]
    )
    frame = _frame(rows, segmenter)
    _, _, full = demand_vectors(frame, USEEncoder(), EmbedConfig(cache_dir=None))
    out = find_duplicates(frame, DedupConfig(), full).set_index(s.DEMAND_ID)
    assert out.loc["D01", s.DUPLICATE_GROUP] == out.loc["D02", s.DUPLICATE_GROUP] == "G01"
    member = out.loc[out[s.DUPLICATE_OF] != ""].iloc[0]
    assert member[s.DUPLICATE_KIND] in {"near", "reworded"}
    assert set(out.loc[[f"DF{i}" for i in range(len(FILLER))], s.DUPLICATE_GROUP]) == {""}


def test_row_order_does_not_change_groups(segmenter: Segmenter) -> None:
    rows = [
        ("D01", "正极", BASE),
        ("D02", "正极", BASE),
        ("D03", "正极", BASE.replace("90%", "92%")),
        ("D04", "钛白", "钛白粉氯化工艺"),
    ]
    a = find_duplicates(_frame(rows, segmenter), DedupConfig()).set_index(s.DEMAND_ID).sort_index()
    b = find_duplicates(_frame(rows[::-1], segmenter), DedupConfig()).set_index(s.DEMAND_ID).sort_index()
    pd.testing.assert_frame_equal(a, b)


def test_rerunning_on_its_own_output_merges_nothing_new(segmenter: Segmenter) -> None:
    rows = [("D01", "正极", BASE), ("D02", "正极", BASE), ("D03", "钛白", "钛白粉氯化工艺")]
    once = find_duplicates(_frame(rows, segmenter), DedupConfig())
    twice = find_duplicates(once, DedupConfig())
    pd.testing.assert_frame_equal(once, twice)


def test_input_is_not_mutated_and_duplicates_are_kept(segmenter: Segmenter) -> None:
    frame = _frame([("D01", "正极", BASE), ("D02", "正极", BASE)], segmenter)
    before = frame.copy()
    out = find_duplicates(frame, DedupConfig(), np.eye(2, dtype=np.float32))
    pd.testing.assert_frame_equal(frame, before)
    assert len(out) == 2


def _sectioned(need: list[str], target: list[str], basis: str, basis_first: bool) -> str:
    sections = [f"需求内容：{''.join(need)}", f"预期目标：{''.join(target)}"]
    return "\n".join([f"现有工作基础：{basis}", *sections] if basis_first else [*sections, f"现有工作基础：{basis}"])


def test_reordered_sections_are_the_same_need_even_after_the_basis_section(segmenter: Segmenter) -> None:
    need = ["本需求针对竹浆纤维染整工艺。", "企业现有技术存在能耗偏高、产品一致性差的不足。",
            "主要研究内容包括少水无水染色、抗菌整理、印染废水减量。"]  # fmt: skip
    target = ["断裂强力不低于300N，耗水降低50%以上。", "申请发明专利5项。"]
    rows = _with_filler(
        [
            ("D01", "竹浆纤维染整工艺研发", _sectioned(need, target, "前期已积累8年的技术经验。", False)),
            ("D02", "竹浆纤维染整工艺研发", _sectioned(need[::-1], target[::-1], "公司建有省级技术中心。", True)),
        ]
    )
    out = find_duplicates(_frame(rows, segmenter), DedupConfig()).set_index(s.DEMAND_ID)
    assert out.loc["D01", s.DUPLICATE_GROUP] == out.loc["D02", s.DUPLICATE_GROUP] == "G01"


def test_with_the_encoder_a_paraphrase_merges_and_a_template_look_alike_stays_apart(segmenter: Segmenter) -> None:
    paraphrase = (
        "随着动力电池的快速发展，市场对高镍三元正极材料的要求不断提高。然而材料循环寿命不够、首效偏低，现有工艺难以满足需要。"
        "计划借助外部研发力量，对高镍三元正极材料的表面包覆改性开展研究。预期实现以下目标：循环寿命至少2000次；首次效率要达到90%以上。"
    )
    rows = _with_filler(
        [
            ("D01", "高镍三元正极材料包覆改性技术研发", BASE),
            ("D02", "关于高镍三元正极材料包覆改性的合作需求", paraphrase),
            ("D03", "磷酸锰铁锂正极材料包覆改性技术研发", BASE.replace("高镍三元", "磷酸锰铁锂")),
        ]
    )
    frame = _frame(rows, segmenter)
    encoder = USEEncoder()
    _, _, full = demand_vectors(frame, encoder, EmbedConfig(cache_dir=None))
    pairs = detect_pairs(frame, DedupConfig(), full, encoder)
    rule = pairs.set_index(["demand_a", "demand_b"]).loc[("D01", "D02")]
    assert rule["decision"] == "merged" and "句子语义对齐" in rule["reason"]
    out = find_duplicates(frame, DedupConfig(), full, encoder).set_index(s.DEMAND_ID)
    assert out.loc["D01", s.DUPLICATE_GROUP] == out.loc["D02", s.DUPLICATE_GROUP] == "G01"
    assert out.loc["D03", s.DUPLICATE_GROUP] == ""
    shuffled = find_duplicates(frame.iloc[::-1].reset_index(drop=True), DedupConfig(), full[::-1].copy(), encoder)
    pd.testing.assert_series_equal(
        out[s.DUPLICATE_GROUP].sort_index(), shuffled.set_index(s.DEMAND_ID)[s.DUPLICATE_GROUP].sort_index()
    )


def test_a_kept_apart_pair_is_never_joined_through_a_chain(segmenter: Segmenter) -> None:
    frame = _frame([("D01", "甲", "甲"), ("D02", "乙", "乙"), ("D03", "丙", "丙")], segmenter)
    pairs = pd.DataFrame(
        [
            ("D01", "D02", "reworded", "merged", 0.2, 0.9, 0.5, "", "", ""),
            ("D02", "D03", "reworded", "merged", 0.2, 0.8, 0.5, "", "", ""),
            ("D01", "D03", "near", "kept_apart", 0.9, 0.9, 0.5, "", "甲、丙", "对象不同"),
        ],
        columns=PAIR_COLUMNS,
    )
    out = group_duplicates(frame, pairs, DedupConfig()).set_index(s.DEMAND_ID)
    assert out.loc["D01", s.DUPLICATE_GROUP] == out.loc["D02", s.DUPLICATE_GROUP] == "G01"
    assert out.loc["D03", s.DUPLICATE_GROUP] == ""
