"""Typed, frozen configuration: one model per stage, grouped in PipelineConfig.

Defaults live in code; a YAML file passed with `--config` overrides any subset. Each stage receives only its part.
"""

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import ConfigError
from .paths import DATA_DIR, MODELS_DIR, STOPWORDS_FILE, TAXONOMY_FILE, USER_DICT_FILE


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class IngestConfig(_Frozen):
    max_cell_chars: int = Field(20_000, description="longer cells are truncated and the row flagged")
    min_title_chars: int = 2
    max_file_mb: float = Field(50.0, description="larger files are refused with a message naming this limit")
    max_rows_per_file: int = Field(200_000, description="files with more rows are refused (rows are counted streaming)")
    max_rows_per_call: int = Field(1_000_000, description="a call with more accepted rows is refused before processing")


class NormalizeConfig(_Frozen):
    strip_company_intro: bool = True


class SegmentConfig(_Frozen):
    engine: Literal["rjieba", "jieba"] = Field(
        "rjieba", description="rjieba (Rust, ~16x faster; jieba when not installed) or jieba (pure Python)"
    )
    user_dict: Path = USER_DICT_FILE
    stopwords: Path = STOPWORDS_FILE
    use_hmm: bool = True
    min_token_chars: int = 2


class EmbedConfig(_Frozen):
    backend: Literal["use", "sentence-transformers"] = "use"
    model: str = Field("", description="sentence-transformers model directory or name (backend=sentence-transformers)")
    batch_size: int = 64
    cache_dir: Path | None = MODELS_DIR / "embeddings"
    body_chars: int = Field(400, description="characters of the body encoded for the body vector")


class DedupConfig(_Frozen):
    shingle_size: int = 3
    num_perm: int = 128
    lsh_threshold: float = 0.5
    near_threshold: float = Field(0.7, description="verified Jaccard of shingle sets to call two demands near-copies")
    lsh_bands: int = 16
    seed: int = 1
    neighbours: int = Field(10, description="nearest sentence vectors examined per demand for re-posts")
    reworded_cosine: float = Field(0.65, description="sentence cosine from which a pair is examined as a re-post")
    # logistic weights of (cosine, term overlap, title-term overlap, number agreement, bias), used when no encoder
    # is given for sentence alignment; fitted on generated tiers with seed 7 (benchmarks/dup_tiers.py)
    reworded_weights: tuple[float, float, float, float, float] = (5.0, 3.5, 5.0, 3.0, -10.6)
    # with an encoder: weights of (cosine, term overlap, title-term overlap, number agreement, sentence-vector
    # alignment, sentence bigram alignment, bias); refit with `python benchmarks/dedup_bench.py --fit` (seed 7
    # tiers only; the benchmark reports seed 1)
    sentence_weights: tuple[float, float, float, float, float, float, float] = (
        0.1, 5.99, 3.55, 10.74, 20.56, -19.66, -18.94)  # fmt: skip
    same_sentences: float = Field(
        0.9, description="sentence bigram alignment from which two demands are the same sentences in another order"
    )
    reworded_probability: float = Field(0.5, description="probability from which a pair counts as a re-post")
    key_term_share: float = Field(0.02, description="a title term in at most this share of demands names an object")


class MappingConfig(_Frozen):
    taxonomy: Path = TAXONOMY_FILE
    extra_taxonomies: tuple[Path, ...] = ()
    title_weight: float = 0.5
    industry_weight: float = Field(0.5, description="weight of the industry-level scope similarity")
    keyword_weight: float = 1.0
    temperature: float = 0.05
    review_below: float = Field(
        0.9, description="chain confidence under which a demand needs review (the band >= 0.9 is the trusted one)"
    )
    secondary_ratio: float = 0.6
    second_encoder: Literal["", "e5"] = Field(
        "", description="a second encoder for mapping only (e5: +4-5 points on real demands, ~15x slower than USE)"
    )
    second_weight: float = Field(0.3, description="the second encoder's share of the joint similarity")
    learned_min_decisions: int = Field(20, description="human decisions needed before a learned model is blended in")
    learned_half_weight: float = Field(150.0, description="decisions at which the learned model weighs half (capped)")
    learned_max_weight: float = Field(0.6, description="the learned model's largest share of the blend")
    learned_c: float = Field(4.0, description="inverse regularisation of the learned logistic regression")


class ClusterConfig(_Frozen):
    """See `pipelines.cluster_method`; thresholds chosen on CSL dev titles (`benchmarks/cluster_bench.py`)."""

    distance_threshold: float = Field(
        0.856, description="average-linkage cosine distance (on the clustering representation) to join two clusters"
    )
    group_threshold: float = Field(0.943, description="same, between clusters, for the second (coarser) level")
    min_cluster_size: int = Field(2, description="units a cluster or group needs to be reported as one")
    label_terms: int = 4
    center_prior: float = Field(20.0, description="centring shrinkage: the mean is scaled by n/(n+prior); <0: off")
    term_weight: float = Field(
        0.3, description="weight of the TF-IDF term vectors next to the sentence vectors; 0: off"
    )
    term_dims: int = Field(200, description="TruncatedSVD dimensions of the TF-IDF term vectors")
    smooth_neighbors: int = Field(10, description="neighbours averaged into each vector before linkage; 0: off")
    smooth_weight: float = Field(1.0, description="weight of the neighbour average")
    refine_iterations: int = Field(3, description="nearest-centroid reassignment passes after linkage; 0: off")
    merge_below: int = Field(1, description="clusters with fewer items join the nearest larger one; 1: off")
    exact_limit: int = Field(
        10_000, description="above this many items, link k-means micro-clusters (seed-dependent) instead of items"
    )
    seed: int = 0


class StoreConfig(_Frozen):
    url: str = ""  # empty: DEFAULT_DB_URL


class ScoringConfig(_Frozen):
    rubric: Path = Field(
        DATA_DIR / "rubric" / "scoring.yaml", description="评分规则文件: weights, steps and caps of the entry scores"
    )


class RunnerConfig(_Frozen):
    """Where `consolidate-call` runs its heavy stages (README, "Dask"); the results do not depend on it."""

    dask_address: str = Field(
        "",
        description='Dask scheduler address (tcp://host:8786), "local" for a temporary local cluster; empty: '
        "Prefect's default runner in this process, nothing partitioned",
    )
    partition_rows: int = Field(
        5000, ge=1, description="rows per partition of segmentation, encoding and mapping when running on Dask"
    )
    dask_workers: int = Field(2, ge=1, description='worker processes of the local cluster (dask_address "local")')
    dask_threads_per_worker: int = Field(1, ge=1, description="threads of each local worker process")


class PipelineConfig(_Frozen):
    ingest: IngestConfig = IngestConfig()
    normalize: NormalizeConfig = NormalizeConfig()
    segment: SegmentConfig = SegmentConfig()
    embed: EmbedConfig = EmbedConfig()
    dedup: DedupConfig = DedupConfig()
    mapping: MappingConfig = MappingConfig()
    cluster: ClusterConfig = ClusterConfig()
    scoring: ScoringConfig = ScoringConfig()
    runner: RunnerConfig = RunnerConfig()


def load_config(path: Path | None) -> PipelineConfig:
    """Defaults, overridden by the YAML file at `path` when given; a bad file raises ConfigError in Chinese."""
    if path is None:
        return PipelineConfig()
    try:
        raw: Any = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"配置文件 {path} 无法读取：{exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"配置文件 {path} 应为键值映射（YAML mapping）")
    try:
        return PipelineConfig.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"配置文件 {path} 第 {where} 项无效：{first['msg']}") from exc
