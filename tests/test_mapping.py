"""The zero-shot mapper on the shipped taxonomy with the real default encoder."""

import numpy as np
import pandas as pd
import pytest

from pipelines import schema as s
from pipelines.embed import USEEncoder, demand_vectors
from pipelines.keywords import KeywordIndex, keyword_hits
from pipelines.mapping import IndustryMapper, build_labels
from pipelines.normalize import normalize_demands
from pipelines.settings import EmbedConfig, MappingConfig, NormalizeConfig
from pipelines.taxonomy import Taxonomy, load_taxonomy

DEMANDS = [
    ("动力锂电池高镍三元正极材料包覆改性", "开发高镍三元正极材料表面包覆工艺，提升电池循环寿命与热稳定性。"),
    ("浓香型白酒窖泥功能微生物培养技术", "针对窖池窖泥老化问题，筛选培养己酸菌等功能微生物，提升基酒优质率。"),
    ("全钒液流电池储能系统电解液制备", "开发高稳定性钒电解液，用于全钒液流电池储能电站。"),
    ("水稻高产栽培与病虫害绿色防控", "在丘陵地区推广水稻高产栽培模式，减少农药使用。"),
    ("中药配方颗粒质量标准研究", ""),
    ("=cmd|' /C calc'!A0", "<script>alert(1)</script>"),
]


@pytest.fixture(scope="module")
def taxonomy() -> Taxonomy:
    return load_taxonomy(MappingConfig().taxonomy)


@pytest.fixture(scope="module")
def mapped(taxonomy: Taxonomy) -> pd.DataFrame:
    frame = pd.DataFrame(DEMANDS, columns=[s.TITLE, s.TEXT])
    frame[s.FLAGS] = np.where(frame[s.TEXT] == "", "no_description", "")
    frame = normalize_demands(frame, NormalizeConfig())
    encoder = USEEncoder()
    title, body, _ = demand_vectors(frame, encoder, EmbedConfig(cache_dir=None))
    return IndustryMapper(taxonomy, encoder, MappingConfig()).fit().predict(frame, title, body)


def test_clear_demands_map_to_their_chain(mapped: pd.DataFrame) -> None:
    assert mapped.loc[0, [s.INDUSTRY_ID, s.CHAIN_ID]].tolist() == ["EC", "EC-BATT"]
    assert mapped.loc[1, [s.INDUSTRY_ID, s.CHAIN_ID]].tolist() == ["FT", "FT-BAIJIU"]


def test_conflict_rule_decides_vanadium_batteries_and_says_so(mapped: pd.DataFrame) -> None:
    assert mapped.loc[2, s.CHAIN_ID] == "EC-BATT"
    assert "规则" in mapped.loc[2, s.EVIDENCE]


def test_agriculture_is_outside_the_six_industries(mapped: pd.DataFrame) -> None:
    assert mapped.loc[3, [s.INDUSTRY_ID, s.CHAIN_ID]].tolist() == [s.NONE, s.NONE]
    assert mapped.loc[3, s.INDUSTRY] == "六大产业之外"


def test_title_only_demand_is_mapped_and_flagged(mapped: pd.DataFrame) -> None:
    assert mapped.loc[4, s.INDUSTRY_ID] == "MH"
    assert mapped.loc[4, s.NEEDS_REVIEW] and "无需求描述" in mapped.loc[4, s.REVIEW_REASON]


def test_every_answer_is_valid_and_explained(mapped: pd.DataFrame, taxonomy: Taxonomy) -> None:
    for row in mapped.itertuples():
        assert taxonomy.is_valid(row.industry_id, row.chain_id)
        assert 0.0 <= row.confidence <= row.industry_confidence + 1e-9 <= 1.0 + 1e-9
        assert row.evidence.startswith("判定：") and "语义最近" in row.evidence
        assert len(row.alternatives.split(";")) == 3
        assert row.secondary_chain_id != row.chain_id
        assert bool(row.needs_review) == bool(row.review_reason)


def test_keyword_evidence_marks_title_hits() -> None:
    assert keyword_hits(("电解液", "钒", "正极"), "钒电解液制备", "正极材料") == [("电解液", "标题"), ("正极", "正文")]


def test_the_keyword_index_finds_exactly_the_hits_of_each_list(taxonomy: Taxonomy) -> None:
    lists = [label.keywords for label in build_labels(taxonomy)] + [i.keywords for i in taxonomy.industries]
    index = KeywordIndex(lists)
    texts = [
        ("钒电池储能电解液制备", "全钒液流电池正极材料与光伏玻璃减反射膜"),
        ("高精度数控机床主轴", "五轴联动数控系统，伺服电机与减速器国产化"),
        ("中药配方颗粒质量标准", "白酒酿造窖池微生物监测，食品安全快速检测"),
        ("", "碳化硅衬底外延片缺陷检测"),
        ("无关的一句话", ""),
    ]
    for title, body in texts:
        expected = [keyword_hits(keywords, title.lower(), body.lower()) for keywords in lists]
        assert index.hits(title.lower(), body.lower()) == expected
    assert any(hit for title, body in texts for hit in index.hits(title, body))  # the texts do hit keywords
    overlapping = KeywordIndex([("电池", "钒电池", "电池正极"), ("池正",)])  # keywords inside keywords
    assert overlapping.hits("钒电池正极", "") == [
        [("电池", "标题"), ("钒电池", "标题"), ("电池正极", "标题")],
        [("池正", "标题")],
    ]


def test_labels_cover_every_chain_a_no_chain_label_per_industry_and_outside(taxonomy: Taxonomy) -> None:
    labels = build_labels(taxonomy)
    assert {label.chain_id for label in labels} == {c.id for c in taxonomy.chains} | {s.NONE}
    assert {label.industry_id for label in labels if label.chain_id == s.NONE} == {*taxonomy_ids(taxonomy), s.NONE}


def taxonomy_ids(taxonomy: Taxonomy) -> set[str]:
    return {i.id for i in taxonomy.industries}


def test_an_n_chain_is_a_data_edit() -> None:
    base = MappingConfig().taxonomy
    extended = load_taxonomy(base, [base.parent / "example-n-chains.yaml"])
    labels = {label.chain_id for label in build_labels(extended)}
    assert {"EM-LOWALT", "MH-NUCMED"} <= labels


# --- optional second encoder -----------------------------------------------------------------------------------
class _Shifted:
    """A second encoder whose cosines crowd near 1 (like e5's): the fake's vectors plus a large shared offset."""

    name = "shifted@1"

    def __init__(self) -> None:
        from tests.fakes import HashEncoder

        self.inner = HashEncoder()

    def encode(self, texts: list[str]) -> np.ndarray:
        v = self.inner.encode(texts) + 3.0 / np.sqrt(64)
        return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)


def test_joint_vectors_average_both_cosines_after_centring_and_keep_empty_bodies_empty(taxonomy: Taxonomy) -> None:
    from tests.fakes import HashEncoder

    second = _Shifted()
    mapper = IndustryMapper(taxonomy, HashEncoder(), MappingConfig(second_weight=0.3), second).fit()
    texts = ["钒电池电解液制备", "白酒窖泥微生物", ""]
    first = HashEncoder().encode(texts)
    first[2] = 0.0
    joint = mapper.joint_vectors(first, texts)
    assert np.allclose(np.linalg.norm(joint[:2], axis=1), 1, atol=1e-5) and not joint[2].any()
    raw = second.encode(texts[:2])
    assert raw[0] @ raw[1] > 0.85  # crowded before centring...
    centred = raw - mapper.second_centre_
    centred /= np.linalg.norm(centred, axis=1, keepdims=True)
    expected = 0.7 * float(first[0] @ first[1]) + 0.3 * float(centred[0] @ centred[1])
    assert float(joint[0] @ joint[1]) == pytest.approx(expected, abs=1e-5)  # ...a weighted mean of cosines after
    assert joint.shape[1] == 64 + 64 and mapper.phrase_vectors_.shape[1] == 128


def test_a_mapper_with_a_second_encoder_needs_its_vectors(taxonomy: Taxonomy) -> None:
    from tests.fakes import HashEncoder

    frame = normalize_demands(pd.DataFrame({s.TITLE: ["钒电池"], s.TEXT: ["电解液"]}), NormalizeConfig())
    vecs = HashEncoder().encode(["钒电池"])
    mapper = IndustryMapper(taxonomy, HashEncoder(), MappingConfig(), _Shifted()).fit()
    with pytest.raises(ValueError, match="second_vecs"):
        mapper.predict(frame, vecs, vecs)
    second = _Shifted().encode(["钒电池"])
    out = mapper.predict(frame, vecs, vecs, None, (second, second))
    assert taxonomy.is_valid(out.loc[0, s.INDUSTRY_ID], out.loc[0, s.CHAIN_ID])


def test_the_e5_encoder_runs_offline_from_its_package() -> None:
    from pipelines.embed import E5Encoder

    encoder = E5Encoder()
    vectors = encoder.encode(["全钒液流电池电解液", "钒电池储能电解液", "浓香型白酒酿造"])
    assert vectors.shape == (3, 384) and np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]
    assert encoder.name.startswith("e5-small-4bit@")
