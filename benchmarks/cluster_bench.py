"""Clustering benchmark on CSL paper titles: our method (with an ablation) against KMeans and BERTopic, and its
time and memory on 10k and 100k items.

Data (../shared/data/csl, Apache-2.0): the 1,000 dev and 1,000 test titles of `ts/` carry two labels each, the 67
disciplines of `cls_dcp/` (joined line by line) and the 13 categories of `cls_ctg/` (the same titles). Every
clustering is scored against both. All methods get the same USE vectors (encoding time excluded, vectors cached).

Tuning rule, the only use of labels: each variant's two thresholds are set on dev so that dev yields 67 clusters and
13 groups (the granularity KMeans is handed as k), then applied unchanged to test. NMI rises with the number of
clusters whatever their quality, so counts are matched and chance-adjusted AMI is printed next to NMI.

Usage: python benchmarks/cluster_bench.py [--shared ../shared] [--skip-bertopic] [--skip-scale]
"""

import argparse
import itertools
import os
import sys
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import psutil
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_mutual_info_score, adjusted_rand_score, normalized_mutual_info_score

from pipelines.cluster_method import assign_levels, cluster_levels, prepare
from pipelines.embed import CachedEncoder, USEEncoder
from pipelines.paths import MODELS_DIR, REPO_ROOT
from pipelines.segment import Segmenter
from pipelines.settings import ClusterConfig, SegmentConfig

ABLATION: list[tuple[str, dict[str, Any]]] = [
    ("USE, average linkage", dict(center_prior=-1, term_weight=0, smooth_neighbors=0, refine_iterations=0)),
    ("+ centring", dict(term_weight=0, smooth_neighbors=0, refine_iterations=0)),
    ("+ TF-IDF terms", dict(smooth_neighbors=0, refine_iterations=0)),
    ("+ neighbour smoothing", dict(refine_iterations=0)),
    ("+ refinement (= ours)", {}),
    ("ours without TF-IDF terms", dict(term_weight=0)),
    ("ours + merge clusters < 3", dict(merge_below=3)),
]


@dataclass
class Split:
    titles: list[str]
    tokens: list[str]
    vectors: np.ndarray
    truth: dict[str, np.ndarray]  # label set name -> labels
    ids: list[str]


def read_tsv(path: Path) -> list[list[str]]:
    return [line.split("\t") for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def load_split(csl: Path, split: str, encode: Callable[[list[str]], np.ndarray], segment: Segmenter) -> Split:
    titles = [row[2] for row in read_tsv(csl / "ts" / f"{split}.tsv")]
    disciplines = [row[2] for row in read_tsv(csl / "cls_dcp" / f"{split}.tsv")]
    categories = read_tsv(csl / "cls_ctg" / f"{split}.tsv")
    assert len(titles) == len(disciplines) == len(categories)
    assert [row[1] for row in categories] == titles, "cls_ctg and ts titles are expected to be the same rows"
    truth = {"67 disciplines": _codes(disciplines), "13 categories": _codes([row[2] for row in categories])}
    tokens = [" ".join(segment.tokenize(t)) for t in titles]
    return Split(titles, tokens, encode(titles), truth, [f"{split}-{i:05d}" for i in range(len(titles))])


def _codes(values: Sequence[str]) -> np.ndarray:
    return np.unique(np.asarray(values), return_inverse=True)[1]


class PeakMemory:
    """Peak resident memory of this process while the block runs, sampled every 10 ms (MB)."""

    def __enter__(self) -> "PeakMemory":
        self.process = psutil.Process()
        self.start = self.peak = self.process.memory_info().rss
        self.running = True
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()
        self.t0 = time.perf_counter()
        return self

    def _sample(self) -> None:
        while self.running:
            self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(0.01)

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.t0
        self.running = False
        self.thread.join()
        self.peak = max(self.peak, self.process.memory_info().rss)

    @property
    def added_mb(self) -> float:
        return (self.peak - self.start) / 2**20


# --- methods: each returns labels for rows in the given order (-1: unassigned) ---------------------


def ours(split: Split, config: ClusterConfig, level: int = 0) -> Callable[[np.ndarray, int], np.ndarray]:
    def run(rows: np.ndarray, seed: int) -> np.ndarray:
        cfg = config.model_copy(update={"seed": seed})
        return cluster_levels(split.vectors[rows], [split.tokens[i] for i in rows], [split.ids[i] for i in rows], cfg)[
            level
        ]

    return run


def kmeans(vectors: np.ndarray, k: int) -> Callable[[np.ndarray, int], np.ndarray]:
    return lambda rows, seed: KMeans(k, n_init=10, random_state=seed).fit_predict(vectors[rows])


def bertopic(split: Split, segment: Segmenter) -> Callable[[np.ndarray, int], np.ndarray]:
    def run(rows: np.ndarray, seed: int) -> np.ndarray:
        from bertopic import BERTopic
        from sklearn.feature_extraction.text import CountVectorizer

        vectorizer = CountVectorizer(tokenizer=segment.tokenize, token_pattern=None, lowercase=False)
        model = BERTopic(embedding_model=None, vectorizer_model=vectorizer)
        topics, _ = model.fit_transform([split.titles[i] for i in rows], embeddings=split.vectors[rows])
        return np.asarray(topics)

    return run


# --- scoring -----------------------------------------------------------------------------------------


def score_row(
    name: str, split: Split, method: Callable[[np.ndarray, int], np.ndarray], runs: int, memory: bool = False
) -> list[str]:
    """Markdown cells: k, unassigned, NMI/ARI/AMI per label set (mean over runs), median seconds, worst run-to-run
    NMI (each run after the first on a shuffled row order with its own seed) and, when asked, peak RSS added."""
    n = len(split.ids)
    outcomes = []
    for run in range(runs):
        rows = np.arange(n) if run == 0 else np.random.default_rng(run).permutation(n)
        with PeakMemory() as meter:
            found = method(rows, run)
        labels = np.empty(n, dtype=np.int64)
        labels[rows] = found
        outcomes.append((labels, meter.seconds, meter.added_mb))
    labels = outcomes[0][0]
    seconds = float(np.median([o[1] for o in outcomes]))
    cells = [name, str(len(set(labels.tolist()) - {-1})), f"{np.mean([(o[0] == -1).mean() for o in outcomes]):.0%}"]
    for truth in split.truth.values():
        cells.append(" / ".join(f"{np.mean([f(truth, o[0]) for o in outcomes]):.3f}" for f in _MEASURES))
    stability = min(
        (normalized_mutual_info_score(a[0], b[0]) for a, b in itertools.combinations(outcomes, 2)), default=np.nan
    )
    cells += [f"{seconds:.1f}", "-" if runs < 2 else f"{stability:.3f}"]
    return [*cells, f"{max(o[2] for o in outcomes):.0f}"] if memory else cells


_MEASURES = (normalized_mutual_info_score, adjusted_rand_score, adjusted_mutual_info_score)


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join([*lines, *("| " + " | ".join(r) + " |" for r in rows)])


# --- tuning on dev -------------------------------------------------------------------------------------


def tune(dev: Split, config: ClusterConfig, clusters: int, groups: int) -> ClusterConfig:
    """Thresholds (3 decimals) giving dev `clusters` clusters and `groups` groups.

    The count falls as the threshold rises, except at very small thresholds when small clusters are merged (with no
    large cluster to join, nothing merges); so scan down from a high threshold, then bisect the last step.
    """
    prepared = prepare(dev.vectors, dev.tokens, dev.ids, config)

    def count(field: str, value: float, level: int, cfg: ClusterConfig) -> int:
        return len(set(assign_levels(prepared, cfg.model_copy(update={field: value}))[level].tolist()))

    def search(field: str, target: int, level: int, floor: float, cfg: ClusterConfig) -> float:
        hi = 1.5
        while hi - 0.025 > floor and count(field, hi - 0.025, level, cfg) < target:
            hi -= 0.025
        lo = max(floor, hi - 0.025)
        for _ in range(8):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if count(field, mid, level, cfg) > target else (lo, mid)
        candidates = sorted({round(lo, 3), round(hi, 3), round((lo + hi) / 2, 3)})
        return min(candidates, key=lambda t: (abs(count(field, t, level, cfg) - target), t))

    threshold = search("distance_threshold", clusters, 0, 0.0, config)
    config = config.model_copy(update={"distance_threshold": threshold, "group_threshold": 2.0})
    return config.model_copy(update={"group_threshold": search("group_threshold", groups, 1, threshold, config)})


def ablation(dev: Split, test: Split) -> tuple[str, ClusterConfig]:
    header = ["variant", "thresholds (dev)", "split", "clusters", "67 disc. NMI / AMI", "13 cat. NMI / AMI"]
    header += ["groups", "13 cat. NMI / AMI (groups)"]
    rows, tuned = [], ClusterConfig()
    for name, changes in ABLATION:
        config = tune(dev, ClusterConfig(**changes), 67, 13)
        if name.endswith("(= ours)"):
            tuned = config
        for split_name, split in (("dev", dev), ("test", test)):
            fine, coarse = cluster_levels(split.vectors, split.tokens, split.ids, config)
            rows.append(
                [
                    name,
                    f"{config.distance_threshold:.3f} / {config.group_threshold:.3f}",
                    split_name,
                    str(len(set(fine.tolist()))),
                    *(_nmi_ami(t, fine) for t in split.truth.values()),
                    str(len(set(coarse.tolist()))),
                    _nmi_ami(split.truth["13 categories"], coarse),
                ]
            )
        print(f"  tuned {name}", file=sys.stderr, flush=True)
    approximate = tuned.model_copy(update={"exact_limit": 250})
    for split_name, split in (("dev", dev), ("test", test)):
        fine, coarse = cluster_levels(split.vectors, split.tokens, split.ids, approximate)
        cells = [_nmi_ami(t, fine) for t in split.truth.values()]
        name = "ours via 250 micro-clusters (the >exact_limit path)"
        rows.append([name, "same", split_name, str(len(set(fine.tolist()))), *cells, str(len(set(coarse.tolist())))])
        rows[-1].append(_nmi_ami(split.truth["13 categories"], coarse))
    for split_name, split in (("dev", dev), ("test", test)):
        prepared = prepare(split.vectors, split.tokens, split.ids, tuned)
        x = np.empty_like(prepared.x)
        x[prepared.order] = prepared.x
        for k, label in ((67, "fine"), (13, "coarse")):
            found = KMeans(k, n_init=10, random_state=0).fit_predict(x)
            cells = [_nmi_ami(t, found) for t in split.truth.values()]
            if label == "fine":
                rows.append(["KMeans k=67 on our representation", "-", split_name, "67", *cells, "-", "-"])
            else:
                rows.append(["KMeans k=13 on our representation", "-", split_name, "-", "-", "-", "13", cells[1]])
    return table(header, rows), tuned


def _nmi_ami(truth: np.ndarray, labels: np.ndarray) -> str:
    return f"{normalized_mutual_info_score(truth, labels):.3f} / {adjusted_mutual_info_score(truth, labels):.3f}"


# --- scale ---------------------------------------------------------------------------------------------


def scale(csl: Path, encode: Callable[[list[str]], np.ndarray], segment: Segmenter, config: ClusterConfig,
          with_bertopic: bool) -> str:  # fmt: skip
    """10k real titles (13 categories): ours, KMeans, BERTopic; 100k = the 10k repeated 10x with noise: ours."""
    rows = [r for split in ("train", "dev", "test") for r in read_tsv(csl / "cls_ctg" / f"{split}.tsv")]
    titles = [r[1] for r in rows]
    split = Split(
        titles,
        [" ".join(segment.tokenize(t)) for t in titles],
        encode(titles),
        {"13 categories": _codes([r[2] for r in rows])},
        [f"all-{i:06d}" for i in range(len(titles))],
    )
    header = ["items", "method", "clusters", "unassigned", "13 cat. NMI / ARI / AMI", "seconds", "run-to-run NMI"]
    header.append("peak RSS added (MB)")
    out = [["10,000", *score_row("ours, clusters (level 1)", split, ours(split, config, 0), 2, memory=True)]]
    out.append(["10,000", *score_row("ours, groups (level 2)", split, ours(split, config, 1), 2, memory=True)])
    micro = config.model_copy(update={"exact_limit": 4000})
    name = "ours via 4,000 micro-clusters, level 1"
    out.append(["10,000", *score_row(name, split, ours(split, micro, 0), 2, memory=True)])
    ours_k = int(out[0][2])
    for name, k in ((f"KMeans k={ours_k} (ours' count)", ours_k), ("KMeans k=13 (true count)", 13)):
        out.append(["10,000", *score_row(name, split, kmeans(split.vectors, k), 2, memory=True)])
    if with_bertopic:
        out.append(["10,000", *score_row("BERTopic default", split, bertopic(split, segment), 1, memory=True)])
    print("  10k done", file=sys.stderr, flush=True)
    rng = np.random.default_rng(0)
    copies = 10
    big = np.vstack(
        [split.vectors + rng.normal(0, 0.01, split.vectors.shape).astype(np.float32) for _ in range(copies)]
    )
    big /= np.linalg.norm(big, axis=1, keepdims=True)
    tokens, ids = split.tokens * copies, [f"big-{i:07d}" for i in range(len(big))]
    with PeakMemory() as meter:
        fine, coarse = cluster_levels(big, tokens, ids, config)
    cells = [str(len(set(fine.tolist()))) + f" ({len(set(coarse.tolist()))} groups)", "0%", "-"]
    out.append([f"{len(big):,} (synthetic)", "ours", *cells, f"{meter.seconds:.1f}", "-", f"{meter.added_mb:.0f}"])
    return table(header, out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=REPO_ROOT.parent / "shared")
    parser.add_argument("--skip-bertopic", action="store_true")
    parser.add_argument("--skip-scale", action="store_true")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    csl = args.shared / "data" / "csl"
    encoder = CachedEncoder(USEEncoder(), MODELS_DIR / "embeddings")
    segment = Segmenter(SegmentConfig()).fit()
    started = time.perf_counter()
    dev, test = (load_split(csl, s, encoder.encode, segment) for s in ("dev", "test"))
    print(f"# Clustering benchmark (CSL titles, USE vectors; encoding {time.perf_counter() - started:.0f} s)\n")

    ablation_table, tuned = ablation(dev, test)
    shipped = ClusterConfig()
    note = (
        "equal to"
        if (tuned.distance_threshold, tuned.group_threshold)
        == (
            shipped.distance_threshold,
            shipped.group_threshold,
        )
        else "DIFFERENT FROM"
    )
    header = ["method", "clusters", "unassigned", "67 disc. NMI / ARI / AMI", "13 cat. NMI / ARI / AMI"]
    header += ["seconds", "run-to-run NMI"]
    for split_name, split in (("test", test), ("dev", dev)):
        runs = 3 if split_name == "test" else 1
        rows = [
            score_row("ours, clusters (level 1)", split, ours(split, shipped, 0), runs),
            score_row("ours, groups (level 2)", split, ours(split, shipped, 1), runs),
        ]
        ours_k = int(rows[0][1])
        for name, k in (("67 (true count)", 67), (f"{ours_k} (ours' count)", ours_k), ("13 (true count)", 13)):
            rows.append(score_row(f"KMeans k={name}", split, kmeans(split.vectors, k), runs))
        if not args.skip_bertopic:
            rows.append(score_row("BERTopic default", split, bertopic(split, segment), runs))
        print(f"## {split_name} (1,000 titles; shipped defaults)\n\n{table(header, rows)}\n", flush=True)
    print(
        "Test: mean of 3 runs, each on a shuffled row order with its own seed; seconds: median; run-to-run NMI: the "
        "lowest NMI between two of the runs (dev: one run). Clusters: of the first run. Unassigned: BERTopic's "
        "outlier topic -1, scored as a label of its own. KMeans: n_init=10.\n"
    )
    print(f"## Ablation (thresholds tuned on dev: 67 clusters, 13 groups)\n\n{ablation_table}\n")
    print(
        f"Tuned thresholds of the full method: {tuned.distance_threshold:.3f} / {tuned.group_threshold:.3f}, "
        f"{note} the shipped defaults ({shipped.distance_threshold:.3f} / {shipped.group_threshold:.3f}).\n"
    )
    if not args.skip_scale:
        print(f"## Scale\n\n{scale(csl, encoder.encode, segment, shipped, not args.skip_bertopic)}\n")
    print(f"Total {time.perf_counter() - started:.0f} s, {os.cpu_count()} CPUs.")


if __name__ == "__main__":
    main()
