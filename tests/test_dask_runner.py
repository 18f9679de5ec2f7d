"""consolidate-call on a Dask cluster (prefect-dask) gives the outputs of Prefect's default runner: segmentation,
encoding and the mapper's row-by-row scoring run partitioned on the workers (pipelines/partitions.py)."""

import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from distributed import Client, LocalCluster

from pipelines import embed, flows, segment
from pipelines.cli import main
from pipelines.embed import demand_vectors
from pipelines.errors import NoAcceptedRowsError
from pipelines.learned_mapping import CorrectionModel
from pipelines.mapping import IndustryMapper
from pipelines.normalize import normalize_demands
from pipelines.partitions import concat_rows, row_ranges, take_rows
from pipelines.sample import generate_call, write_call
from pipelines.segment import Segmenter
from pipelines.settings import EmbedConfig, MappingConfig, NormalizeConfig, PipelineConfig, RunnerConfig
from pipelines.taxonomy import load_taxonomy
from tests.conftest import make_demands
from tests.fakes import HashEncoder

OUTPUTS = ("demands.csv", "clusters.csv", "duplicate_pairs.csv", "quarantine.csv")
MAPPING_DEMANDS = [
    ("动力锂电池高镍三元正极材料包覆改性", "开发高镍三元正极材料表面包覆工艺，提升电池循环寿命。"),
    ("浓香型白酒窖泥功能微生物培养技术", "筛选培养己酸菌等功能微生物，提升基酒优质率。"),
    ("全钒液流电池储能系统电解液制备", "开发高稳定性钒电解液，用于储能电站。"),
    ("水稻高产栽培与病虫害绿色防控", "在丘陵地区推广水稻高产栽培模式。"),
    ("中药配方颗粒质量标准研究", ""),
]


def test_row_ranges_cover_the_rows_in_order() -> None:
    assert row_ranges(10, 0) == [(0, 10)] == row_ranges(10, 10) == row_ranges(10, 25)
    assert row_ranges(10, 4) == [(0, 4), (4, 8), (8, 10)]
    frame = pd.DataFrame({"a": range(10)}, index=range(100, 110))
    vectors = np.arange(20.0).reshape(10, 2)
    parts = [take_rows((frame, vectors), a, b) for a, b in row_ranges(10, 4)]
    assert concat_rows([f for f, _ in parts]).equals(frame)
    assert np.array_equal(np.concatenate([v for _, v in parts]), vectors)
    assert take_rows(frame, 0, 10) is frame and take_rows(None, 0, 3) is None


def test_a_segmenter_travels_as_its_word_lists() -> None:
    fitted = Segmenter(PipelineConfig().segment, ("包覆改性",)).fit()
    copy = pickle.loads(pickle.dumps(fitted))
    assert copy is not fitted and copy.words_ == fitted.words_ and copy.stopwords_ == fitted.stopwords_
    text = "开发高镍三元正极材料包覆改性工艺，循环寿命≥2000次"
    assert copy.tokenize(text) == fitted.tokenize(text)
    assert pickle.loads(pickle.dumps(fitted)) is copy  # built once per process


def test_an_encoder_travels_without_its_model(tmp_path: Path) -> None:
    encoder = embed.USEEncoder()
    vector = encoder.encode(["白酒窖池温度智能监测"])
    payload = pickle.dumps(embed.CachedEncoder(encoder, tmp_path))
    assert len(payload) < 10_000  # the model (over 60 MB) stays behind
    copy = pickle.loads(payload).inner
    assert copy._model is None and np.array_equal(copy.encode(["白酒窖池温度智能监测"]), vector)
    assert copy._model is encoder._model  # loaded once per process


def test_run_dask_option_overrides_the_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    seen: list[RunnerConfig] = []

    def on(runner: RunnerConfig) -> Any:
        seen.append(runner)
        raise NoAcceptedRowsError("没有可接收的需求行")

    monkeypatch.setattr(flows, "consolidate_call_on", on)
    args = ["run", str(tmp_path / "a.csv"), "--call", "c", "--out", str(tmp_path / "out"), "--dask", "tcp://h:8786"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2 and seen[0].dask_address == "tcp://h:8786" and seen[0].partition_rows == 5000


def test_mapping_scored_in_partitions_is_the_whole_mapping() -> None:
    """Similarities for all rows, the row-by-row scoring (learned opinion included) in partitions of 2."""
    demands = [(f"D{i}", t, b) for i, (t, b) in enumerate(MAPPING_DEMANDS)]
    frame = normalize_demands(make_demands(demands), NormalizeConfig())
    encoder, config = HashEncoder(), MappingConfig()
    title, body, _ = demand_vectors(frame, encoder, EmbedConfig(cache_dir=None))
    mapper = IndustryMapper(load_taxonomy(config.taxonomy), encoder, config).fit()
    rng = np.random.default_rng(3)
    model = CorrectionModel("Ltest", encoder.name, 40, ("EC/EC-BATT", "FT/FT-BAIJIU"), rng.normal(size=(1, 8)), [0.1])
    opinion = model.opinion(rng.normal(size=(len(frame), 8)), config)
    whole = mapper.predict(frame, title, body, opinion)
    sims = mapper.similarities(title, body)
    parts = [mapper.describe(take_rows(frame, a, b), sims.rows(a, b), opinion.rows(a, b)) for a, b in row_ranges(5, 2)]
    pd.testing.assert_frame_equal(concat_rows(parts), whole)


def test_pieces_of_whole_batches_give_the_vectors_of_one_call(tmp_path: Path) -> None:
    texts = [f"{t}。{b}" for t, b in MAPPING_DEMANDS] * 3 + ["钛合金锻件热处理", "窖池温度监测"]
    use = embed.USEEncoder(batch_size=4)
    size = embed.piece_size(use, 5)
    assert size == 8 and embed.piece_size(HashEncoder(), 5) == 0
    cached = embed.CachedEncoder(use, tmp_path)
    todo = cached.missing(texts)
    assert len(todo) == len(set(texts))
    cached.store(todo, np.concatenate([use.encode(todo[a:b]) for a, b in row_ranges(len(todo), size)]))
    assert cached.missing(texts) == []
    fresh = embed.CachedEncoder(use, tmp_path / "fresh").encode(texts)
    assert np.array_equal(cached.encode(texts), fresh)


def _config(cache: Path, runner: RunnerConfig) -> PipelineConfig:
    return PipelineConfig(embed=EmbedConfig(cache_dir=cache), runner=runner)


def _read(folder: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(folder / name, dtype=str, keep_default_na=False, encoding="utf-8-sig")


def _worker_state() -> tuple[int, int]:
    """(segmenters built, USE models loaded) in this worker process."""
    return segment._fitted.cache_info().currsize, embed._use_model.cache_info().currsize


@pytest.mark.usefixtures("prefect_harness")
def test_a_local_dask_cluster_gives_the_default_runners_outputs(tmp_path: Path) -> None:
    """Worker processes (two, one thread each), partitions of 25 rows: 5 per partitioned stage, and the titles and
    bodies encoded on the workers in pieces of 64 texts. Each run has its own empty vector cache."""
    call, truth = generate_call(80, seed=11)
    write_call(call, truth, tmp_path / "call.csv")
    inputs = [tmp_path / "call.csv"]
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):
        config = _config(
            tmp_path / "dask-vectors", RunnerConfig(dask_address=cluster.scheduler_address, partition_rows=25)
        )
        on_dask = flows.consolidate_call_on(config.runner)
        on_dask(inputs, "c-1", tmp_path / "dask", f"sqlite:///{tmp_path / 'dask.sqlite'}", config, echo=False)
        states = client.run(_worker_state).values()
    assert sum(built for built, _ in states) >= 1 and sum(models for _, models in states) >= 1  # work ran there
    plain = _config(tmp_path / "vectors", RunnerConfig(partition_rows=25))  # no address: nothing partitioned
    assert flows.consolidate_call_on(plain.runner) is flows.consolidate_call
    db = f"sqlite:///{tmp_path / 'plain.sqlite'}"
    flows.consolidate_call(inputs, "c-1", tmp_path / "plain", db, plain, echo=False)
    for name in OUTPUTS:
        dask, default = tmp_path / "dask" / name, tmp_path / "plain" / name
        pd.testing.assert_frame_equal(_read(dask.parent, name), _read(default.parent, name), obj=name)
        assert dask.read_bytes() == default.read_bytes(), name
    demands = _read(tmp_path / "plain", "demands.csv")
    assert len(demands) == 80 and (demands["duplicate_group"] != "").any() and (demands["cluster_id"] != "").any()
    assert flows.config_hash(config) == flows.config_hash(config.model_copy(update={"runner": RunnerConfig()}))
