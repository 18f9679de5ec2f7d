"""The model learned from human decisions: fit, storage, blend, and its use by the next run of the flow."""

import csv
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipelines import schema as s
from pipelines.corrections import Correction
from pipelines.flows import consolidate_call
from pipelines.learned_mapping import CorrectionModel, features, label_key, model_version, training_set
from pipelines.mapping import Label
from pipelines.settings import EmbedConfig, MappingConfig, PipelineConfig
from pipelines.store import Library

CONFIG = MappingConfig(learned_min_decisions=4, learned_half_weight=4.0, learned_max_weight=0.9)


def _model(n: int = 6) -> tuple[CorrectionModel, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 8)).astype(np.float32)
    X[: n // 2, 0] += 3.0  # the first half is recognisable by feature 0
    keys = ["EC/EC-BATT"] * (n // 2) + ["NONE/NONE"] * (n - n // 2)
    return CorrectionModel.fit(X, keys, "Ltest", "enc", CONFIG), X


def test_the_model_learns_round_trips_without_pickle_and_weighs_by_decisions() -> None:
    model, X = _model()
    assert model.classes == ("EC/EC-BATT", "NONE/NONE")
    proba = model.predict_proba(X)
    assert np.allclose(proba.sum(axis=1), 1) and (proba[:3, 0] > 0.5).all() and (proba[3:, 0] < 0.5).all()
    again = CorrectionModel.from_bytes(model.to_bytes())
    assert (again.version, again.n_decisions, again.classes) == (model.version, 6, model.classes)
    assert np.array_equal(again.predict_proba(X), proba)
    assert model.weight(CONFIG) == pytest.approx(6 / 10)
    assert model.weight(MappingConfig(learned_half_weight=1.0, learned_max_weight=0.5)) == 0.5


def test_blend_moves_probability_to_the_learned_answer_and_shares_a_class_among_its_labels() -> None:
    model, X = _model()
    labels = [
        Label("EC", "EC-BATT", "动力电池", (), ()),
        Label("AM", "AM-VTI", "钒钛", (), ()),
        Label(s.NONE, s.NONE, "农业", (), ()),
        Label(s.NONE, s.NONE, "环保", (), ()),
    ]
    zero_shot = np.array([[0.1, 0.7, 0.15, 0.05], [0.1, 0.7, 0.15, 0.05]])
    opinion = model.opinion(X[[0, 5]], CONFIG)
    mixed = opinion.blend(zero_shot, labels)
    assert np.allclose(mixed.sum(axis=1), 1)
    assert mixed[0, 0] > zero_shot[0, 0] and mixed[0, 1] < zero_shot[0, 1]  # EC-BATT learned for the first
    assert mixed[1, 2] + mixed[1, 3] > zero_shot[1, 2] + zero_shot[1, 3]  # NONE learned for the second...
    assert mixed[1, 2] / mixed[1, 3] == pytest.approx(3.0, rel=1e-3)  # ...shared 3:1 as zero-shot had them
    assert opinion.evidence(0).startswith("人工更正学习模型 Ltest（6 条人工判定") and "EC/EC-BATT" in opinion.evidence(
        0
    )


def test_training_set_needs_enough_decisions_with_two_answers_and_version_ignores_order() -> None:
    frame = pd.DataFrame({s.DEMAND_ID: ["d1", "d2", "d3", "d4", "d5"]})
    decisions = pd.DataFrame(
        {s.DEMAND_ID: ["d5", "d1", "d3", "d2", "zz"], s.INDUSTRY_ID: ["EC", "EC", "AM", "AM", "EC"]}
        | {s.CHAIN_ID: ["EC-BATT", "EC-BATT", "NONE", "NONE", "EC-BATT"]}
    )
    rows, keys = training_set(frame, decisions, CONFIG)
    assert rows == [0, 1, 2, 4] and keys == ["EC/EC-BATT", "AM/NONE", "AM/NONE", "EC/EC-BATT"]
    assert training_set(frame, decisions.iloc[:3], CONFIG) == ([], [])  # two present: below the minimum
    same = decisions.assign(**{s.INDUSTRY_ID: "EC", s.CHAIN_ID: "EC-BATT"})
    assert training_set(frame, same, CONFIG) == ([], [])  # one answer: nothing to learn
    ids = frame[s.DEMAND_ID].iloc[rows].tolist()
    version = model_version(ids, keys, "enc", CONFIG)
    assert version == model_version(ids[::-1], keys[::-1], "enc", CONFIG)
    assert version != model_version(ids, [label_key("MH", s.NONE), *keys[1:]], "enc", CONFIG)


def test_features_repeat_the_title_for_a_demand_without_body() -> None:
    title = np.eye(2, 4, dtype=np.float32)
    body = np.vstack([np.zeros(4), np.ones(4) / 2]).astype(np.float32)
    X = features(title, body, ["钒 电池", ""])
    assert X.shape[0] == 2 and np.array_equal(X[0, 4:8], title[0]) and np.array_equal(X[1, 4:8], body[1])
    assert X[0, 8:].sum() > 0 and X[1, 8:].sum() == 0


# --- the flow: decisions in the library -> model stored -> next run blends and says so ----------------------
ROWS = [
    ("全钒液流电池电解液稳定性提升", "开发高稳定性钒电解液，用于全钒液流电池储能电站。"),
    ("锂电池隔膜涂覆工艺优化", "提升锂离子电池隔膜的耐热性能与一致性。"),
    ("动力电池包热管理系统设计", "优化动力电池包液冷板结构，降低温差。"),
    ("水稻高产栽培技术推广", "在丘陵地区推广水稻高产栽培模式。"),
    ("生猪养殖粪污资源化利用", "研究养殖场粪污发酵还田工艺。"),
    ("茶园病虫害绿色防控", "减少茶园化学农药使用。"),
    ("钒电池储能电堆功率提升", "提升全钒液流电池电堆功率密度。"),  # not decided: mapped with the learned model
]


def _run(tmp_path: Path, db: str, out: str, config: PipelineConfig) -> pd.DataFrame:
    source = tmp_path / "call.csv"
    with source.open("w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["需求编号", "需求名称", "需求描述", "企业名称"])
        writer.writerows([f"X{i}", title, text, f"企业{i}"] for i, (title, text) in enumerate(ROWS))
    consolidate_call([source], "c1", tmp_path / out, db, config, echo=False)
    return pd.read_csv(tmp_path / out / "demands.csv", dtype=str, keep_default_na=False, encoding="utf-8-sig")


@pytest.mark.usefixtures("prefect_harness")
def test_decisions_train_a_model_that_the_next_run_blends_and_the_manifest_names(tmp_path: Path) -> None:
    config = PipelineConfig(embed=EmbedConfig(cache_dir=tmp_path / "cache"), mapping=CONFIG)
    db = f"sqlite:///{tmp_path / 'lib.sqlite'}"
    first = _run(tmp_path, db, "a", config)
    assert json.loads((tmp_path / "a" / "manifest.json").read_text(encoding="utf-8"))["mapper"] == "zero-shot-v1"
    answers = ["EC/EC-BATT"] * 3 + ["NONE/NONE"] * 3
    with Library.open(db) as library:
        report = library.apply_corrections(
            Correction(demand_id=d, industry_id=a.split("/")[0], chain_id=a.split("/")[1], reviewer="李四")
            for d, a in zip(first[s.DEMAND_ID][:6], answers, strict=True)
        )
        assert not report.problems
    second = _run(tmp_path, db, "b", config)
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text(encoding="utf-8"))
    with Library.open(db) as library:
        models = library.mapper_models()
        assert len(models) == 1 and models[0][1] == 6
        assert manifest["mapper"] == f"zero-shot-v1+learned:{models[0][0]}(n=6)"
        assert len(library.events(kind="mapper_model")) == 1
    # the human decisions still win in the output; the evidence of the automated part names the model
    assert second[s.CHAIN_ID].tolist()[:3] == ["EC-BATT"] * 3
    assert second[s.EVIDENCE].str.startswith("人工更正：李四").sum() == 6
    undecided = second.set_index(s.EXTERNAL_ID).loc["X6"]
    assert f"人工更正学习模型 {models[0][0]}（6 条人工判定" in undecided[s.EVIDENCE]
    assert undecided[s.CHAIN_ID] == "EC-BATT"
    _run(tmp_path, db, "c", config)  # same decisions: the stored model is reused, not refitted
    with Library.open(db) as library:
        assert len(library.mapper_models()) == 1
    fresh = _run(tmp_path, f"sqlite:///{tmp_path / 'fresh.sqlite'}", "d", config)
    assert json.loads((tmp_path / "d" / "manifest.json").read_text(encoding="utf-8"))["mapper"] == "zero-shot-v1"
    assert not fresh[s.EVIDENCE].str.contains("人工更正学习模型").any()
