import pandas as pd

from pipelines import schema as s
from pipelines.normalize import normalize_demands, normalize_text, strip_boilerplate
from pipelines.settings import NormalizeConfig

FORM = """需求内容：
    开发高韧性立方氮化硼单晶新牌号。
预期目标：
    抗冲击韧性≥67%。
现有工作基础：
    公司成立于2011年，是高新技术企业，拥有发明专利12项。"""


def test_full_width_and_whitespace_are_unified() -> None:
    assert normalize_text("ＡＢＣ１２３\u3000 电池\r\n\r\n  容量") == "ABC123 电池\n容量"


def test_control_characters_are_removed() -> None:
    assert normalize_text("锂\x00电\x07池") == "锂电池"


def test_section_labels_and_work_basis_are_stripped() -> None:
    core = strip_boilerplate(normalize_text(FORM))
    assert "需求内容" not in core and "预期目标" not in core
    assert "现有工作基础" not in core and "成立于" not in core
    assert "立方氮化硼" in core and "67%" in core


def test_company_intro_sentences_are_stripped_only_when_asked() -> None:
    text = normalize_text("本公司成立于2005年，是国家高新技术企业。需开发钛合金锻件热处理工艺。")
    assert strip_boilerplate(text) == "需开发钛合金锻件热处理工艺。"
    assert "成立于" in strip_boilerplate(text, strip_company_intro=False)


def test_normalize_demands_adds_columns_without_mutating_input() -> None:
    frame = pd.DataFrame({s.TITLE: ["氮化硼单晶"], s.TEXT: [FORM]})
    before = frame.copy()
    out = normalize_demands(frame, NormalizeConfig())
    pd.testing.assert_frame_equal(frame, before)
    assert out.loc[0, s.CORE_TEXT].startswith("氮化硼单晶\n")
    assert out.loc[0, s.NORM_TEXT].startswith("需求内容:")


def test_title_only_demand_keeps_its_title_as_core() -> None:
    out = normalize_demands(pd.DataFrame({s.TITLE: ["白酒窖池监测"], s.TEXT: [""]}), NormalizeConfig())
    assert out.loc[0, s.CORE_TEXT] == "白酒窖池监测"


def test_the_work_basis_section_ends_at_the_next_section_label() -> None:
    text = "现有工作基础：公司已有中试线。需求内容：开发高镍正极包覆工艺。预期目标：循环≥2000次。"
    core = strip_boilerplate(text)
    assert "中试线" not in core and "高镍正极包覆工艺" in core and "2000次" in core
    assert strip_boilerplate("需求内容：开发钒电解液。\n现有工作基础：已有中试线") == "开发钒电解液。"
