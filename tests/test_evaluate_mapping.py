"""benchmarks/evaluate_mapping.py on a tiny hand-written labelled file: tables, folds, and the real import path."""

import json
from pathlib import Path

import pytest

from benchmarks.evaluate_mapping import (
    INDUSTRY_ROWS,
    Labelled,
    correction_label,
    evaluate,
    load_labelled,
    make_folds,
    reliability_table,
    training_order,
)
from pipelines.settings import EmbedConfig, MappingConfig, PipelineConfig
from pipelines.store import Library
from pipelines.taxonomy import load_taxonomy

# (id, title, text, industry, chain): written for this test, not taken from any real call
DEMANDS = [
    ("t-00", "高镍三元锂电池正极材料包覆", "开发锂电池高镍三元正极材料包覆工艺，提高循环寿命。", ["EC"], ["EC-BATT"]),
    ("t-01", "动力电池电解液添加剂开发", "研制锂电池电解液新型添加剂，改善低温放电性能。", ["EC"], ["EC-BATT"]),
    ("t-02", "磷酸铁锂储能电池热管理", "储能锂电池组热失控预警与液冷热管理。", ["EC"], ["EC-BATT"]),
    ("t-03", "中药配方颗粒质量标准研究", "建立中药配方颗粒指纹图谱与含量测定方法。", ["MH"], ["MH-PHARMA"]),
    ("t-04", "抗肿瘤小分子药物合成工艺", "优化原料药合成路线，降低杂质含量。", ["MH"], ["MH-PHARMA"]),
    ("t-05", "化学药仿制药一致性评价", "开展口服固体制剂溶出曲线一致性评价研究。", ["MH"], ["MH-PHARMA"]),
    ("t-06", "工业机器人视觉分拣系统", "基于机器视觉的工业机器人零件识别与抓取。", ["EM"], ["EM-SMART"]),
    ("t-07", "数控机床主轴热误差补偿", "研究数控机床主轴热变形建模与实时补偿。", ["EM"], ["EM-SMART"]),
    ("t-08", "智能产线设备状态监测", "对自动化生产线关键设备振动进行在线监测与故障诊断。", ["EM", "EI"], ["EM-SMART"]),
    ("t-09", "水稻病虫害绿色防控技术", "研究稻田病虫害生物防治与减量施药方案。", ["NONE"], ["NONE"]),
    ("t-10", "城市生活污水处理提标改造", "污水处理厂脱氮除磷工艺升级。", ["NONE"], ["NONE"]),
    ("t-11", "果蔬冷链物流保鲜技术", "研究果蔬采后预冷与冷链运输保鲜。", ["FT", "NONE"], ["FT-FOOD", "NONE"]),
]


@pytest.fixture
def labelled(tmp_path: Path) -> list[Labelled]:
    path = tmp_path / "labelled.jsonl"
    with path.open("w", encoding="utf-8") as fh:
        for id_, title, text, industry, chain in DEMANDS:
            record = {"id": id_, "title": title, "text": text, "industry": industry, "chain": chain, "chain2": []}
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
    return load_labelled(path)


def test_folds_are_disjoint_deterministic_and_training_order_excludes_the_held_out_fold(
    labelled: list[Labelled],
) -> None:
    ids = [r.id for r in labelled]
    folds = make_folds(ids, 3, seed=1)
    assert sorted(i for fold in folds for i in fold) == sorted(ids) and [len(f) for f in folds] == [4, 4, 4]
    assert folds == make_folds(ids, 3, seed=1)
    order = training_order(labelled, folds[0], seed=1)
    assert {r.id for r in order} == set(ids) - set(folds[0])


def test_correction_label_is_a_valid_pair_from_the_listed_labels(labelled: list[Labelled]) -> None:
    taxonomy = load_taxonomy(MappingConfig().taxonomy)
    for record in labelled:
        industry, chain = correction_label(record, taxonomy)
        assert taxonomy.is_valid(industry, chain)
        assert industry in record.industry and chain in record.chain
    mixed = Labelled("x", "t", "", ("EI", "EM"), ("EM-SMART",))
    assert correction_label(mixed, taxonomy) == ("EM", "EM-SMART")


def test_reliability_buckets_cover_every_demand() -> None:
    import pandas as pd

    table = reliability_table(pd.Series([0.1, 0.35, 0.95, 1.0, 0.9]), pd.Series([False, True, True, True, False]))
    assert table["confidence"].tolist() == ["<0.3", "0.3-0.5", "0.5-0.7", "0.7-0.9", ">=0.9"]
    assert table["n"].tolist() == [1, 1, 0, 0, 3]
    assert table["share"].sum() == pytest.approx(1.0)
    assert table["accuracy"].iloc[-1] == pytest.approx(2 / 3)


@pytest.mark.usefixtures("prefect_harness")
def test_evaluate_runs_the_flow_and_imports_corrections_through_the_cli(
    labelled: list[Labelled], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from benchmarks import evaluate_mapping

    libraries: list[tuple[int, int, str]] = []  # (k, human decisions, stored models) seen after each re-run
    original = evaluate_mapping.run_flow

    def watching_run_flow(source: Path, out: Path, db: Path, config: PipelineConfig) -> evaluate_mapping.Run:
        run = original(source, out, db, config)
        with Library.open(f"sqlite:///{db}") as library:
            models = library.mapper_models()
            libraries.append((len(library.human_mappings()), len(models), run.mapper))
        return run

    monkeypatch.setattr(evaluate_mapping, "run_flow", watching_run_flow)
    config = PipelineConfig(
        embed=EmbedConfig(cache_dir=tmp_path / "cache"), mapping=MappingConfig(learned_min_decisions=4)
    )
    result = evaluate(labelled, tmp_path / "work", config, folds=2, ks=[0, 6], seed=3)

    accuracy = result["accuracy"]
    assert accuracy["subset"].tolist()[0] == "all" and accuracy["n"].iloc[0] == len(DEMANDS)
    assert accuracy["n"].iloc[2] + accuracy["n"].iloc[3] == len(DEMANDS)  # halves by id parity
    for column in ("industry acc", "chain acc"):
        assert 0 <= accuracy[column].iloc[0] <= 1
    assert result["none"]["level"].tolist() == ["industry", "chain"]
    assert result["none"]["labelled only NONE"].tolist() == [2, 2]
    confusion = result["confusion"]
    assert confusion["gold \\ predicted"].tolist() == list(INDUSTRY_ROWS)
    assert confusion["total"].sum() == len(DEMANDS)
    for key in ("reliability_chain", "reliability_industry", "reliability_chain_learned"):
        assert result[key]["n"].sum() == len(DEMANDS)

    curve = result["curve"]
    assert curve["k"].tolist() == [0, 6]
    assert curve["held-out n"].tolist() == [len(DEMANDS)] * 2  # every demand held out once per k
    assert curve["imported per fold"].tolist() == ["0", "6"]
    assert curve["library decisions"].tolist() == ["0", "6"]
    assert curve["runs with learned model"].tolist() == ["0/2", "2/2"]
    assert curve["held-out blended"].iloc[0] == 0 and curve["held-out blended"].iloc[1] > 0
    assert ((curve["industry acc"] >= 0) & (curve["industry acc"] <= 1)).all()
    assert ((curve["chain acc"] >= 0) & (curve["chain acc"] <= 1)).all()
    # the base run is zero-shot; each k > 0 re-run found the 6 imported decisions and learned a model from them
    assert libraries[0] == (0, 0, "zero-shot-v1")
    assert len(libraries) == 3
    for decisions, models, mapper in libraries[1:]:
        assert decisions == 6 and models == 1 and mapper.startswith("zero-shot-v1+learned:") and "(n=6)" in mapper
    assert {p.k for p in result["points"]} == {0, 6}
