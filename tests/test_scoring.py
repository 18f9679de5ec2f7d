"""Entry scores: signals found, evidence listed, weights from the rubric file, expert scores, incomplete demands."""

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
import yaml

from pipelines import schema as s
from pipelines.completeness import INCOMPLETE, INCOMPLETE_REASON, MISSING, flag_incomplete, return_list
from pipelines.drafts import build_drafts, entry_ids
from pipelines.errors import ConfigError, UnreadableFileError
from pipelines.expert_scores import apply_expert_scores, read_expert_scores, unknown_entries
from pipelines.paths import DATA_DIR
from pipelines.rubric import Rubric
from pipelines.scoring import (
    EVIDENCE_OF,
    SCORE_COLUMNS,
    SCORE_OF,
    SCORE_RANK,
    SCORE_SOURCE,
    SCORE_TOTAL,
    load_rubric,
    score_entries,
)
from pipelines.settings import PipelineConfig
from pipelines.signals import months_until, quantified_targets

AS_OF = dt.date(2026, 12, 1)
HEX = "0123456789abcdef"


def demand(n: int, cluster: str = "", **fields: object) -> dict[str, object]:
    """One mapped, grouped demand in chain EC-BATT; `fields` override the defaults."""
    row: dict[str, object] = {
        s.DEMAND_ID: f"D{n:016x}",
        s.TITLE: f"需求{n}",
        s.TEXT: "",
        s.CORE_TEXT: f"需求{n}",
        s.ENTERPRISE: f"企业{n}",
        s.CREDIT_CODE: "",
        s.REGION: "成都市",
        s.FUNDING: float("nan"),
        s.COOP_MODE: "",
        s.DEADLINE: "",
        s.INDUSTRY_ID: "EC",
        s.INDUSTRY: "能源化工",
        s.CHAIN_ID: "EC-BATT",
        s.CHAIN: "锂电",
        s.CONFIDENCE: 0.9,
        s.NEEDS_REVIEW: False,
        s.DUPLICATE_GROUP: "",
        s.DUPLICATE_OF: "",
        s.CLUSTER_ID: cluster,
        s.CLUSTER_LABEL: "电池" if cluster else "",
    }
    return row | fields


def scored_of(rows: list[dict[str, object]], rubric: Rubric) -> pd.DataFrame:
    demands = pd.DataFrame(rows)
    entries = entry_ids(demands)
    return score_entries(build_drafts(demands), demands, rubric, entries, as_of=AS_OF).set_index(s.ENTRY_ID)


def write_rubric(tmp_path: Path, data: dict[str, object], name: str = "rubric.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


# --- signals ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "months"),
    [
        ("2027年6月", 6.0),
        ("2027-06-30", 6.0),
        ("2027年", 12.0),
        ("2027年上半年", 6.0),
        ("1年内", 12.0),
        ("12个月", 12.0),
        ("半年", 6.0),
        ("一年半", 18.0),
        ("3-6个月", 6.0),
        ("二十四个月", 24.0),
        ("2025年1月", 0.0),  # passed: as urgent as it gets
        ("尽快", None),
        ("", None),
    ],
)
def test_deadlines_are_read_as_months_from_the_reference_date(text: str, months: float | None) -> None:
    assert months_until(text, AS_OF) == months


def test_quantified_targets_need_a_unit_or_a_comparison() -> None:
    found = quantified_targets("精度≤0.01mm，效率提升30%，耐压1200V；2027年完成，5G通信，5S管理，3D打印")
    assert found == ["≤0.01mm", "提升30%", "1200V"]


# --- scoring ----------------------------------------------------------------------------------------------------
def test_shipped_rubric_loads_and_is_the_default_setting() -> None:
    rubric = load_rubric(PipelineConfig().scoring.rubric)
    assert PipelineConfig().scoring.rubric == DATA_DIR / "rubric" / "scoring.yaml"
    assert rubric.dimensions.urgency.deadline and rubric.dimensions.market.funding


def test_evidence_lists_every_signal_with_its_points() -> None:
    rubric = Rubric.model_validate(
        {
            "dimensions": {
                "urgency": {
                    "deadline": [{"within_months": 6, "points": 40}, {"within_months": 12, "points": 20}],
                    "keywords": {"急需": 20},
                    "enterprises": {"per": 4, "cap": 20},
                },
                "difficulty": {"indicators": {"per": 5, "cap": 30}, "coop_modes": {"联合攻关": 15}},
                "market": {"funding": [{"at_least": 100, "points": 25}], "recurrence": {"per": 10, "cap": 20}},
            }
        }
    )
    code = "91510100MA6C000001"
    rows = [
        demand(1, "C1", **{s.TEXT: "急需解决循环寿命≥3000次的问题", s.DEADLINE: "2027年5月", s.CREDIT_CODE: code}),
        demand(2, "C1", **{s.TEXT: "能量密度提升20%", s.DEADLINE: "2年内", s.FUNDING: 80.0, s.COOP_MODE: "联合攻关"}),
        demand(3, "C1", **{s.FUNDING: 50.0, s.CREDIT_CODE: code, "linked_demand_id": "Dffff000000000000"}),
    ]
    entry = scored_of(rows, rubric).iloc[0]
    late = scored_of([demand(4, **{s.DEADLINE: "2026年3月"})], rubric).iloc[0][EVIDENCE_OF["urgency"]]
    assert late == "紧迫度 44：截止期 6 个月内（“2026年3月”，已过） +40；1 家企业 +4"
    assert entry[SCORE_OF["urgency"]] == 68  # 40 + 20 + 2 enterprises × 4
    assert entry[EVIDENCE_OF["urgency"]] == "紧迫度 68：截止期 6 个月内（“2027年5月”） +40；文中“急需” +20；2 家企业 +8"
    assert entry[EVIDENCE_OF["difficulty"]] == (
        "解决难易度 25：量化指标 2 项（“≥3000次”、“提升20%”） +10；合作方式“联合攻关” +15"
    )
    assert entry[EVIDENCE_OF["market"]] == (
        "市场推广 35：拟投入资金合计 130 万元（≥100） +25；1 条需求往期批次已提出 +10"
    )
    assert entry[SCORE_TOTAL] == pytest.approx(0.4 * 68 + 0.3 * 25 + 0.3 * 35, abs=0.05)
    assert entry[SCORE_SOURCE] == "computed"


def test_enterprises_are_counted_by_credit_code_not_rows() -> None:
    rubric = Rubric.model_validate({"dimensions": {"market": {"enterprises": {"per": 10, "cap": 100}}}})
    code = "91510100MA6C000001"
    rows = [  # three rows, one enterprise (two spellings of its name, one credit code), plus a second enterprise
        demand(1, "C1", **{s.ENTERPRISE: "成都某某电池有限公司", s.CREDIT_CODE: code}),
        demand(2, "C1", **{s.ENTERPRISE: "成都某某电池公司", s.CREDIT_CODE: code.lower()}),
        demand(3, "C1", **{s.ENTERPRISE: "成都某某电池有限公司", s.CREDIT_CODE: code}),
        demand(4, "C1", **{s.ENTERPRISE: "绵阳另一家公司"}),
    ]
    entry = scored_of(rows, rubric).iloc[0]
    assert entry[SCORE_OF["market"]] == 20
    assert "2 家企业 +20" in entry[EVIDENCE_OF["market"]]


def test_caps_are_shown_and_scores_stay_within_0_100() -> None:
    rubric = Rubric.model_validate(
        {"dimensions": {"urgency": {"base": 90, "keywords": {"急需": 30, "迫切": 30}, "keywords_cap": 40}}}
    )
    entry = scored_of([demand(1, **{s.TEXT: "急需，迫切"})], rubric).iloc[0]
    assert entry[SCORE_OF["urgency"]] == 100
    assert entry[EVIDENCE_OF["urgency"]] == (
        "紧迫度 100：基础分 +90；文中“急需” +30；文中“迫切” +30；关键词加分封顶 40 -20（合计超过 100，记 100）"
    )
    assert scored_of([demand(2)], rubric).iloc[0][EVIDENCE_OF["difficulty"]] == "解决难易度 0：未发现依据"


def test_a_weight_changed_in_the_rubric_file_changes_the_ranking(tmp_path: Path) -> None:
    rows = [  # entry A: urgent (deadline in 3 months); entry B: well-funded
        demand(1, **{s.DEADLINE: "3个月内"}),
        demand(2, **{s.FUNDING: 500.0}),
    ]
    base = {
        "dimensions": {
            "urgency": {"deadline": [{"within_months": 6, "points": 80}]},
            "market": {"funding": [{"at_least": 100, "points": 80}]},
        }
    }
    urgent_first = load_rubric(write_rubric(tmp_path, base | {"total_weights": {"urgency": 0.6, "market": 0.2}}))
    market_first = load_rubric(write_rubric(tmp_path, base | {"total_weights": {"urgency": 0.2, "market": 0.6}}))
    a, b = f"S{1:016x}", f"S{2:016x}"
    first = scored_of(rows, urgent_first)[SCORE_RANK]
    second = scored_of(rows, market_first)[SCORE_RANK]
    assert (first[a], first[b]) == (1, 2)
    assert (second[a], second[b]) == (2, 1)


def test_chain_priority_multiplies_the_total_and_ranks_stay_per_chain() -> None:
    rubric = Rubric.model_validate(
        {"chain_priority": {"EI-IC": 1.5}, "dimensions": {"urgency": {"base": 50}}, "total_weights": {"urgency": 1}}
    )
    other = {s.INDUSTRY_ID: "EI", s.INDUSTRY: "电子信息", s.CHAIN_ID: "EI-IC", s.CHAIN: "集成电路"}
    scored = scored_of([demand(1), demand(2, **other)], rubric)
    assert scored[SCORE_TOTAL].tolist() == [50, 75]  # build_drafts orders EC before EI
    assert scored[SCORE_RANK].tolist() == [1, 1]
    assert "产业链优先系数 ×1.5" in scored.iloc[1]["score_total_evidence"]


def test_scoring_adds_columns_and_leaves_inputs_alone() -> None:
    demands = pd.DataFrame([demand(1, **{s.DEADLINE: "半年"}), demand(2)])
    drafts = build_drafts(demands)
    before = (demands.copy(), drafts.copy())
    scored = score_entries(drafts, demands, Rubric(), entry_ids(demands), as_of=AS_OF)
    assert list(scored.columns) == [*drafts.columns, *SCORE_COLUMNS]
    assert scored[s.ENTRY_ID].tolist() == drafts[s.ENTRY_ID].tolist()
    pd.testing.assert_frame_equal(demands, before[0])
    pd.testing.assert_frame_equal(drafts, before[1])


# --- the rubric file --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("data", "named"),
    [
        (
            {"dimensions": {"urgency": {"deadline": [{"within_months": -3, "points": 10}]}}},
            "urgency（紧迫度）.deadline.0",
        ),
        ({"dimensions": {"market": {"keywords": {"国产替代": 300}}}}, "market（市场推广）.keywords"),
        ({"dimensions": {"urgency": {"keyword": {"急需": 10}}}}, "urgency（紧迫度）.keyword"),
        ({"total_weights": {"urgency": 0, "difficulty": 0, "market": 0}}, "total_weights"),
        ({"chain_priority": {"EC-BATT": -1}}, "chain_priority"),
        ({"expert": {"mode": "average"}}, "expert.mode"),
    ],
)
def test_a_bad_rubric_is_refused_naming_the_entry(tmp_path: Path, data: dict[str, object], named: str) -> None:
    with pytest.raises(ConfigError, match="评分规则文件") as caught:
        load_rubric(write_rubric(tmp_path, data))
    assert named in str(caught.value)


# --- expert scores ----------------------------------------------------------------------------------------------
def test_expert_scores_are_read_and_problems_name_file_row_and_column(tmp_path: Path) -> None:
    a, b = f"C{1:016x}", f"S{2:016x}"
    path = tmp_path / "专家评分.csv"
    path.write_text(
        "专家评分表\n"
        "条目编号,紧迫度,解决难易度,市场推广,专家姓名\n"
        f"{a},90,80,70,张三\n"
        f"{a},70,,50,李四\n"
        f"{b},九十,60,60,张三\n"
        f"{b},60,160,60,\n"
        f"{a},10,10,10,张三\n"
        "CXYZ,50,50,50,王五\n",
        encoding="utf-8",
    )
    valid, problems = read_expert_scores(path)
    assert valid[s.ENTRY_ID].tolist() == [a, a]
    assert valid["difficulty"].isna().tolist() == [False, True]
    messages = [str(p) for p in problems]
    assert "文件 专家评分.csv 第 5 行 “紧迫度”列（B）：紧迫度“九十”不是数字（应为 0-100）" in messages
    assert "文件 专家评分.csv 第 6 行 “解决难易度”列（C）：解决难易度 160 超出 0-100" in messages
    assert "文件 专家评分.csv 第 6 行 “专家姓名”列（E）：缺少专家姓名" in messages
    assert any("第 7 行" in m and "已在第 3 行填写" in m for m in messages)
    assert any("第 8 行 “条目编号”列（A）" in m and "CXYZ" in m for m in messages)


def test_expert_file_without_the_columns_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("编号,分数\n1,2\n", encoding="utf-8")
    with pytest.raises(UnreadableFileError, match="专家姓名"):
        read_expert_scores(path)


def test_expert_scores_replace_or_blend_and_the_ranking_follows(tmp_path: Path) -> None:
    rubric = Rubric.model_validate(
        {
            "total_weights": {"urgency": 1, "difficulty": 0, "market": 0},
            "dimensions": {"urgency": {"deadline": [{"within_months": 6, "points": 80}]}},
            "expert": {"mode": "blend", "expert_weight": 0.5},
        }
    )
    scored = scored_of([demand(1, **{s.DEADLINE: "3个月"}), demand(2)], rubric).reset_index()
    a, b = f"S{1:016x}", f"S{2:016x}"
    path = tmp_path / "e.csv"
    path.write_text(f"条目编号,紧迫度,专家姓名\n{b},100,张三\n{b},90,李四\n{a},20,张三\nS{9:016x},1,王五\n", "utf-8")
    expert, problems = read_expert_scores(path)
    assert not problems
    assert [p.source_row for p in unknown_entries(scored, expert)] == [5]
    blended = apply_expert_scores(scored, expert, rubric).set_index(s.ENTRY_ID)
    assert blended.at[b, SCORE_OF["urgency"]] == pytest.approx(47.5)  # 0.5 × mean(100, 90) + 0.5 × 0
    assert blended.at[a, SCORE_OF["urgency"]] == pytest.approx(50)  # 0.5 × 20 + 0.5 × 80
    assert (blended.at[a, SCORE_RANK], blended.at[b, SCORE_RANK]) == (1, 2)
    assert blended.at[b, EVIDENCE_OF["urgency"]].startswith("紧迫度 47.5：专家评分 95（张三、李四）×0.5 + 计算分 0×0.5")
    replaced = apply_expert_scores(scored, expert, rubric, mode="replace").set_index(s.ENTRY_ID)
    assert replaced.at[b, SCORE_OF["urgency"]] == 95 and replaced.at[a, SCORE_OF["urgency"]] == 20
    assert (replaced.at[a, SCORE_RANK], replaced.at[b, SCORE_RANK]) == (2, 1)
    assert replaced.at[b, SCORE_SOURCE] == "expert" and replaced.at[b, "score_experts"] == "张三、李四"
    assert replaced.at[b, SCORE_TOTAL] == 95


# --- incomplete demands -----------------------------------------------------------------------------------------
def test_incomplete_demands_are_flagged_with_the_reason() -> None:
    demands = pd.DataFrame(
        [
            demand(1, **{s.TEXT: "现有隔膜耐热性不足，150℃下收缩率超过5%，无法满足动力电池安全要求，需要新的涂覆工艺"}),
            demand(2, **{s.TEXT: "希望开发一种新型隔膜产品，提高电池安全性能，扩大市场份额并提升企业竞争力水平"}),
            demand(3, **{s.TEXT: "隔膜收缩率≤2%"}),
        ]
    )
    flagged = flag_incomplete(demands)
    assert flagged[INCOMPLETE].tolist() == [False, True, True]
    assert flagged[INCOMPLETE_REASON].tolist() == [
        "",
        "缺少量化技术指标（如精度、效率、寿命等带单位的目标值）；缺少技术难点描述（现有技术存在什么问题、卡在哪里）",
        "缺少技术难点描述（现有技术存在什么问题、卡在哪里）",
    ]


def test_return_list_groups_incomplete_demands_per_enterprise() -> None:
    code = "91510100MA6C000001"
    demands = pd.DataFrame(
        [
            demand(1, **{s.ENTERPRISE: "甲公司", s.CREDIT_CODE: code, s.CONTACT: "", s.PHONE: "", s.TITLE: "隔膜"}),
            demand(2, **{s.ENTERPRISE: "甲公司（成都）", s.CREDIT_CODE: code, s.CONTACT: "王工", s.PHONE: "138"}),
            demand(3, **{s.ENTERPRISE: "乙公司", s.CONTACT: "李工", s.PHONE: "139", s.TEXT: "x" * 10}),
            demand(
                4, **{s.ENTERPRISE: "丙公司", s.TEXT: "现有电解液低温性能不足，-20℃容量保持率低于60%，难以满足北方市场"}
            ),
        ]
    ).assign(**{s.SOURCE_FILE: "成都.xlsx", s.SOURCE_ROW: [2, 3, 4, 5], s.EXTERNAL_ID: ["A1", "", "", ""]})
    returned = return_list(demands).set_index(s.ENTERPRISE)
    assert list(returned.index) == ["乙公司", "甲公司"]  # 丙 is complete; 甲 is one enterprise by credit code
    first = returned.loc["甲公司"]
    assert first["demand_count"] == 2 and (first[s.CONTACT], first[s.PHONE]) == ("王工", "138")
    assert first["demands"] == "《隔膜》（编号 A1，成都.xlsx 第 2 行）；《需求2》（成都.xlsx 第 3 行）"
    assert first[MISSING].startswith("《隔膜》：缺少量化技术指标")
