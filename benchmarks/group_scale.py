"""Time and peak memory of duplicate detection + clustering at 10k and 100k generated demands.

"Embeddings given": the stages are timed on prepared frames (normalised, segmented) and given vectors, as the issue
asks; preparation is reported separately. The vectors here are hashed character-bigram vectors (512 dims,
L2-normalised): similarity-preserving and free to compute, so the measurement does not wait ~10 minutes for the
sentence encoder; with real sentence vectors the candidate counts differ somewhat.

Each size is prepared once (cached under --cache) and then measured in a fresh Python process, so the peak resident
memory reported is that of loading the prepared frame plus the two stages, not of generating and segmenting it.
Duplicate detection is pairs (detect_pairs) + groups (group_duplicates); clustering is the two cluster levels and
the nearest-cluster step. CPU seconds (user + system, all threads) are printed next to wall time: on a machine
shared with other work the wall time overstates the cost. Peak RSS is given after duplicate detection and at the end.
Run with OPENBLAS_NUM_THREADS=1 on a busy machine.

Usage: python benchmarks/group_scale.py [--sizes 10000 100000] [--seed 1] [--cache /tmp/ningliang-scale]
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import HashingVectorizer

from pipelines import schema as s
from pipelines.cluster import cluster_demands, nearest_clusters
from pipelines.dedup import detect_pairs, group_duplicates
from pipelines.normalize import normalize_demands
from pipelines.sample import generate_call
from pipelines.segment import Segmenter, segment_demands
from pipelines.settings import PipelineConfig
from pipelines.taxonomy import load_taxonomy


def prepared(n: int, seed: int, config: PipelineConfig) -> tuple[pd.DataFrame, np.ndarray]:
    call, truth = generate_call(n, seed)
    frame = pd.DataFrame(
        {
            s.DEMAND_ID: [f"D{i:016x}" for i in range(n)],
            s.TITLE: call["需求名称"],
            s.TEXT: call["需求描述"],
            s.INDUSTRY_ID: truth["industry_id"],
            s.CHAIN_ID: truth["chain_id"],
        }
    )
    frame = normalize_demands(frame, config.normalize)
    segmenter = Segmenter(config.segment, load_taxonomy(config.mapping.taxonomy).terms()).fit()
    frame = segment_demands(frame, segmenter)
    hashing = HashingVectorizer(n_features=512, analyzer="char", ngram_range=(2, 2), alternate_sign=False)
    vectors = hashing.transform(frame[s.CORE_TEXT]).toarray().astype(np.float32)
    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    return frame, vectors


def cached(n: int, seed: int, cache: Path, config: PipelineConfig) -> tuple[Path, Path, float]:
    """Paths of the prepared frame (pickle) and vectors (npy) for (n, seed), preparing them when missing."""
    cache.mkdir(parents=True, exist_ok=True)
    frame_path, vector_path = cache / f"frame-{n}-{seed}.pkl", cache / f"vectors-{n}-{seed}.npy"
    seconds = 0.0
    if not (frame_path.exists() and vector_path.exists()):
        start = time.perf_counter()
        frame, vectors = prepared(n, seed, config)
        seconds = time.perf_counter() - start
        frame.to_pickle(frame_path)
        np.save(vector_path, vectors)
    return frame_path, vector_path, seconds


def measure(frame_path: Path, vector_path: Path) -> dict[str, float]:
    """Run dedup + clustering on the cached input in this process; seconds per step and peak RSS in GB."""
    config = PipelineConfig()
    frame, vectors = pd.read_pickle(frame_path), np.load(vector_path)
    loaded = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    marks, cpu = [time.perf_counter()], [_cpu()]
    pairs = detect_pairs(frame, config.dedup, vectors)
    marks.append(time.perf_counter())
    cpu.append(_cpu())
    grouped = group_duplicates(frame, pairs, config.dedup, vectors)
    marks.append(time.perf_counter())
    cpu.append(_cpu())
    dedup_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    clustered = cluster_demands(grouped, vectors, config.cluster)
    marks.append(time.perf_counter())
    nearest_clusters(clustered, vectors)
    marks.append(time.perf_counter())
    cpu.append(_cpu())
    steps = np.diff(marks)
    return {
        "pairs_cpu": cpu[1] - cpu[0],
        "dedup_cpu": cpu[2] - cpu[0],
        "cluster_cpu": cpu[3] - cpu[2],
        "pairs": steps[0],
        "groups": steps[1],
        "clusters": steps[2],
        "nearest": steps[3],
        "total": marks[-1] - marks[0],
        "loaded_gb": loaded,
        "dedup_peak_gb": dedup_peak,
        "peak_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2,
        "clusters_found": float(clustered[s.CLUSTER_ID].replace("", np.nan).nunique()),
        "groups_found": float(clustered[s.CLUSTER_GROUP].replace("", np.nan).nunique()),
    }


def _cpu() -> float:
    """CPU seconds of this process so far (user + system): what the stages cost when other programs share the cores."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/ningliang-scale"))
    parser.add_argument("--measure", nargs=2, type=Path, help=argparse.SUPPRESS)  # child process: frame, vectors
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(*args.measure)))
        return
    config = PipelineConfig()
    print(f"cores: {os.cpu_count()}\n")
    print(
        "| demands | prepare (s) | pairs (s) | groups (s) | clusters, 2 levels (s) | nearest (s) "
        "| dedup + clusters (s) | CPU s: pairs, dedup / clusters | peak RSS GB: dedup, all (input loaded) "
        "| clusters / groups |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for n in args.sizes:
        frame_path, vector_path, prep = cached(n, args.seed, args.cache, config)
        child = [sys.executable, __file__, "--measure", str(frame_path), str(vector_path)]
        r = json.loads(subprocess.run(child, check=True, capture_output=True, text=True).stdout.splitlines()[-1])
        print(
            f"| {n:,} | {prep:.1f} | {r['pairs']:.1f} | {r['groups']:.1f} | {r['clusters']:.1f} | {r['nearest']:.1f} "
            f"| {r['total']:.1f} | {r['pairs_cpu']:.1f}, {r['dedup_cpu']:.1f} / {r['cluster_cpu']:.1f} "
            f"| {r['dedup_peak_gb']:.2f}, {r['peak_gb']:.2f} ({r['loaded_gb']:.2f}) "
            f"| {r['clusters_found']:,.0f} / {r['groups_found']:,.0f} |"
        )


if __name__ == "__main__":
    main()
