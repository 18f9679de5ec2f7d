"""Time and peak memory of duplicate detection + clustering at 10k and 100k generated demands.

"Embeddings given": the stages are timed on prepared frames (normalised, segmented) and given vectors, as the issue
asks; preparation is reported separately. The vectors here are hashed character-bigram vectors (512 dims,
L2-normalised): similarity-preserving and free to compute, so the measurement does not wait ~10 minutes for the
sentence encoder; with real sentence vectors the candidate counts differ somewhat.

Usage: python benchmarks/group_scale.py [--sizes 10000 100000] [--seed 1]
"""

import argparse
import os
import resource
import time

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import HashingVectorizer

from pipelines import schema as s
from pipelines.cluster import cluster_demands
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
    return frame, vectors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    config = PipelineConfig()
    print(f"cores: {os.cpu_count()}\n")
    print("| demands | prepare (s) | pairs (s) | groups (s) | clusters (s) | dedup + clusters (s) | peak RSS GB |")
    print("|---|---|---|---|---|---|---|")
    for n in args.sizes:
        start = time.perf_counter()
        frame, vectors = prepared(n, args.seed, config)
        prep = time.perf_counter() - start
        t0 = time.perf_counter()
        pairs = detect_pairs(frame, config.dedup, vectors)
        t1 = time.perf_counter()
        grouped = group_duplicates(frame, pairs, config.dedup, vectors)
        t2 = time.perf_counter()
        cluster_demands(grouped, vectors, config.cluster)
        t3 = time.perf_counter()
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
        print(f"| {n:,} | {prep:.1f} | {t1 - t0:.1f} | {t2 - t1:.1f} | {t3 - t2:.1f} | {t3 - t0:.1f} | {peak:.2f} |")


if __name__ == "__main__":
    main()
