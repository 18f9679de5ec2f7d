"""Duplicate detection on a generated call with planted re-posts of graded difficulty, three methods in one run.

The call comes from `benchmarks/dup_tiers.py` (written without reading the detector). Methods:
1. ningliang: the project's stages through their public API (normalize, segment, embed, dedup); predicted pairs are
   the pairs sharing a non-empty duplicate_group.
2. datasketch MinHashLSH: char 3-shingles of title + text as submitted, 128 permutations, LSH threshold 0.5, every
   candidate pair taken as a duplicate (no verification); groups are connected components.
3. embedding cosine: USE vectors of title + the first 512 characters of the text; pairs with cosine >= t, t the
   best-F1 threshold on a separately generated call (another seed); groups are connected components.

Scores: pairwise precision / recall / F1 over all pairs sharing a dup_set; recall per tier (a true pair counts in the
harder tier of its two members: verbatim < light_edit < reordered < paraphrase); hard-negative pairs (a hard
negative with its source or any of the source's copies) wrongly put in one group; false pairs between demands
on the same object and process that were not planted as copies (none while n_base <= 1787); wall time.

Usage: python benchmarks/dedup_bench.py [--n-base 800] [--seed 1]
       python benchmarks/dedup_bench.py --fit   # refit DedupConfig.sentence_weights on make_tiers(800, seed=7)
USE encoding (title + body for ningliang, title + text for the cosine peer) is nearly all of the time: the default
runs in ~3 minutes on 2 cores, --n-base 2000 (2600 demands) in ~7-13 minutes.
"""

import argparse
import itertools
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
from datasketch import MinHash, MinHashLSH
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.dup_tiers import BASE_ID, DUP_SET, DUP_TIERS, HARD_NEGATIVE, NEED_KEY, TIER, make_tiers
from pipelines import schema as s
from pipelines.dedup import find_duplicates, pair_features
from pipelines.embed import EmbedConfig, Encoder, USEEncoder, demand_vectors
from pipelines.normalize import normalize_demands
from pipelines.segment import Segmenter, segment_demands
from pipelines.settings import DedupConfig, MappingConfig, NormalizeConfig, SegmentConfig
from pipelines.taxonomy import load_taxonomy

SHINGLE, NUM_PERM, LSH_THRESHOLD, COSINE_CHARS = 3, 128, 0.5, 512
CALIBRATION_SEED_OFFSET, CALIBRATION_MAX_BASE = 1000, 300
DEFAULT_N_BASE = 800  # ~3 minutes on 2 cores: USE encoding (twice per demand) is nearly all of the time
FIT_C = 100.0  # inverse regularisation of the re-post weights' logistic regression (chosen on seed 7: 1, 10, 100)
COSINE_GRID = np.round(np.arange(0.60, 0.995, 0.005), 3)


@dataclass
class Result:
    method: str
    labels: np.ndarray  # group label per row (singletons get their own label)
    seconds: float


# --- grouping helpers ---------------------------------------------------------------------------------------------
def components(n: int, pairs: np.ndarray) -> np.ndarray:
    """Connected-component label of each of `n` rows, given an (m, 2) array of linked row pairs."""
    if len(pairs) == 0:
        return np.arange(n)
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    return connected_components(graph, directed=False)[1]


def labels_of_groups(groups: pd.Series) -> np.ndarray:
    """Labels from a group-id column where "" means no group."""
    codes, _ = pd.factorize(groups.where(groups != "", None), use_na_sentinel=True)
    singles = np.flatnonzero(codes < 0)
    codes[singles] = codes.max(initial=-1) + 1 + np.arange(len(singles))
    return codes


def n_pairs(labels: pd.Series | np.ndarray) -> int:
    counts = pd.Series(labels).value_counts().to_numpy()
    return int((counts * (counts - 1) // 2).sum())


# --- fitting the re-post weights (seed 7 only) ----------------------------------------------------------------------
FIT_SEED = 7
FIT_FEATURES = ["cosine", "overlap", "title_overlap", "numbers", "sentence", "lexical"]


def prepare(demands: pd.DataFrame, encoder: Encoder) -> tuple[pd.DataFrame, np.ndarray]:
    """The frame and full vectors the pipeline gives dedup: normalised, segmented, USE title + body."""
    frame = demands[[s.DEMAND_ID, s.TITLE, s.TEXT]].copy()
    frame = normalize_demands(frame, NormalizeConfig())
    segmenter = Segmenter(SegmentConfig(), load_taxonomy(MappingConfig().taxonomy).terms()).fit()
    frame = segment_demands(frame, segmenter)
    return frame, demand_vectors(frame, encoder, EmbedConfig(cache_dir=None))[2]


def fit_sentence_weights(
    frame: pd.DataFrame, truth: pd.DataFrame, vectors: np.ndarray, encoder: Encoder, c: float = FIT_C
) -> tuple[float, ...]:
    """Logistic regression of "same dup_set" on the re-post candidates' features: DedupConfig.sentence_weights.

    Candidates are the pairs the re-post rule examines (not near-copies, cosine >= reworded_cosine) and that the
    key-term veto leaves; every one gets its sentence alignment (reworded_probability 0 disables the pruning).
    """
    from sklearn.linear_model import LogisticRegression

    config = DedupConfig(reworded_probability=0.0)
    feats = pair_features(frame, config, vectors, encoder)
    feats = feats[feats["sentence"].notna() & ~feats["conflict"].astype(bool)]
    dup_set = truth.set_index(s.DEMAND_ID)[DUP_SET]
    a, b = dup_set.loc[feats["demand_a"]].to_numpy(), dup_set.loc[feats["demand_b"]].to_numpy()
    y = (a == b) & (a != "")
    model = LogisticRegression(C=c, max_iter=10_000).fit(feats[FIT_FEATURES].to_numpy(float), y)
    return tuple(round(float(w), 2) for w in (*model.coef_[0], model.intercept_[0]))


# --- the three methods --------------------------------------------------------------------------------------------
def run_ningliang(demands: pd.DataFrame, encoder: Encoder) -> tuple[np.ndarray, str]:
    frame, full = prepare(demands, encoder)
    out = find_duplicates(frame, DedupConfig(), vectors=full, encoder=encoder)
    how = "find_duplicates(frame, cfg, vectors=full, encoder=USE)"
    groups = out.set_index(s.DEMAND_ID).loc[demands[s.DEMAND_ID], s.DUPLICATE_GROUP].fillna("").astype(str)
    return labels_of_groups(groups.reset_index(drop=True)), how


def run_minhash(demands: pd.DataFrame) -> np.ndarray:
    docs = (demands[s.TITLE] + demands[s.TEXT]).tolist()
    shingles = [{doc[i : i + SHINGLE].encode() for i in range(max(1, len(doc) - SHINGLE + 1))} for doc in docs]
    hashes = MinHash.bulk(shingles, num_perm=NUM_PERM, seed=1)
    lsh = MinHashLSH(threshold=LSH_THRESHOLD, num_perm=NUM_PERM)
    for i, mh in enumerate(hashes):
        lsh.insert(i, mh)
    pairs = [(i, j) for i, mh in enumerate(hashes) for j in lsh.query(mh) if j > i]
    return components(len(docs), np.array(pairs, dtype=np.int64).reshape(-1, 2))


def cosine_vectors(demands: pd.DataFrame, encoder: Encoder) -> np.ndarray:
    texts = [f"{t}\n{x[:COSINE_CHARS]}" for t, x in zip(demands[s.TITLE], demands[s.TEXT], strict=True)]
    return encoder.encode(texts)


def similar_pairs(vectors: np.ndarray, floor: float, block: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """(pairs (m, 2) with i < j, cosines) of all row pairs with cosine >= floor, computed block by block."""
    found, sims = [], []
    for start in range(0, len(vectors), block):
        sim = vectors[start : start + block] @ vectors.T
        i, j = np.nonzero(sim >= floor)
        keep = j > i + start
        found.append(np.column_stack([i[keep] + start, j[keep]]))
        sims.append(sim[i[keep], j[keep]])
    if not found:
        return np.zeros((0, 2), dtype=np.int64), np.zeros(0)
    return np.vstack(found), np.concatenate(sims)


def calibrate_cosine(encoder: Encoder, n_base: int, seed: int) -> tuple[float, float, int]:
    """(threshold, its F1, n_base used) with the best pairwise F1 on a separately generated call."""
    n_cal = min(n_base, CALIBRATION_MAX_BASE)
    demands, truth = make_tiers(n_cal, seed + CALIBRATION_SEED_OFFSET)
    pairs, sims = similar_pairs(cosine_vectors(demands, encoder), float(COSINE_GRID[0]))
    best = (float(COSINE_GRID[-1]), -1.0)
    for t in COSINE_GRID:
        f1 = scores(components(len(demands), pairs[sims >= t]), truth)[2]
        if f1 > best[1]:
            best = (float(t), f1)
    return best[0], best[1], n_cal


def run_cosine(demands: pd.DataFrame, encoder: Encoder, threshold: float) -> np.ndarray:
    pairs, _ = similar_pairs(cosine_vectors(demands, encoder), threshold)
    return components(len(demands), pairs)


# --- scoring ------------------------------------------------------------------------------------------------------
def scores(labels: np.ndarray, truth: pd.DataFrame) -> tuple[float, float, float, int, int]:
    """(precision, recall, F1, predicted pairs, true positive pairs) over all pairs sharing a dup_set."""
    sets = truth[DUP_SET].to_numpy()
    predicted, true = n_pairs(labels), n_pairs(sets[sets != ""])
    both = pd.Series(labels[sets != ""]).astype(str) + "|" + pd.Series(sets[sets != ""])
    tp = n_pairs(both.to_numpy())
    p, r = (tp / predicted if predicted else 1.0), (tp / true if true else 1.0)
    return p, r, (2 * p * r / (p + r) if p + r else 0.0), predicted, tp


def tier_pairs(truth: pd.DataFrame) -> dict[str, list[tuple[int, int]]]:
    """True pairs (row positions) by tier, a pair in the harder tier of its two members; plus hard-negative pairs."""
    rank = {"": -1} | {t: k for k, t in enumerate(DUP_TIERS)}
    tiers = truth[TIER].tolist()
    out: dict[str, list[tuple[int, int]]] = {t: [] for t in (*DUP_TIERS, HARD_NEGATIVE)}
    members: dict[str, list[int]] = {}
    for k, dup_set in enumerate(truth[DUP_SET]):
        if dup_set:
            members.setdefault(dup_set, []).append(k)
    for rows in members.values():
        for a, b in itertools.combinations(sorted(rows), 2):
            out[max(tiers[a], tiers[b], key=rank.__getitem__)].append((a, b))
    position = {d: k for k, d in enumerate(truth[s.DEMAND_ID])}
    set_of = truth[DUP_SET].tolist()
    for k, (tier, base) in enumerate(zip(tiers, truth[BASE_ID], strict=True)):
        if tier == HARD_NEGATIVE:
            src = position[base]
            out[HARD_NEGATIVE] += [(k, m) for m in (members[set_of[src]] if set_of[src] else [src])]
    return out


def recall_on(labels: np.ndarray, pairs: list[tuple[int, int]]) -> float:
    return sum(labels[a] == labels[b] for a, b in pairs) / len(pairs) if pairs else float("nan")


# --- report -------------------------------------------------------------------------------------------------------
def machine() -> str:
    mem = psutil.virtual_memory().total / 2**30
    return (
        f"{os.cpu_count()} logical cores ({psutil.cpu_count(logical=False)} physical), {platform.machine()}, "
        f"{mem:.1f} GiB RAM, Python {platform.python_version()}, {platform.system()}; "
        f"load average at start {os.getloadavg()[0]:.1f}"
    )


def report(results: list[Result], truth: pd.DataFrame, notes: list[str]) -> None:
    by_tier = tier_pairs(truth)
    n_true = n_pairs(truth.loc[truth[DUP_SET] != "", DUP_SET].to_numpy())
    n_hard = len(by_tier[HARD_NEGATIVE])
    print(f"| method | precision | recall | F1 | predicted pairs | false pairs | of which same need, not planted "
          f"| hard-negative pairs merged (of {n_hard}) | time (s) |\n" + "|---" * 9 + "|")  # fmt: skip
    keys = truth[NEED_KEY].to_numpy()
    for r in results:
        p, rec, f1, predicted, tp = scores(r.labels, truth)
        same_need = n_pairs(pd.Series(r.labels).astype(str).to_numpy() + "|" + keys) - tp
        merged = sum(r.labels[a] == r.labels[b] for a, b in by_tier[HARD_NEGATIVE])
        print(f"| {r.method} | {p:.3f} | {rec:.3f} | {f1:.3f} | {predicted} | {predicted - tp} | {same_need} "
              f"| {merged} | {r.seconds:.1f} |")  # fmt: skip
    print(f"\nTrue pairs: {n_true}. Recall per tier (a pair counts in the harder tier of its two members):\n")
    print("| method | " + " | ".join(f"{t} ({len(by_tier[t])})" for t in DUP_TIERS) + " |")
    print("|---" * (len(DUP_TIERS) + 1) + "|")
    for r in results:
        print(f"| {r.method} | " + " | ".join(f"{recall_on(r.labels, by_tier[t]):.3f}" for t in DUP_TIERS) + " |")
    print("\nSettings:\n" + "\n".join(f"- {note}" for note in notes))


def timed(fn: Callable[[], np.ndarray]) -> tuple[np.ndarray, float]:
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n-base", type=int, default=DEFAULT_N_BASE, help="base demands (planted rows: +30 %%)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--fit", action="store_true", help=f"refit DedupConfig.sentence_weights on seed {FIT_SEED}")
    args = parser.parse_args(argv)
    if args.fit:
        demands, truth = make_tiers(args.n_base, FIT_SEED)
        encoder = USEEncoder()
        frame, full = prepare(demands, encoder)
        print(f"sentence_weights (make_tiers({args.n_base}, seed={FIT_SEED}), C={FIT_C}): "
              f"{fit_sentence_weights(frame, truth, full, encoder)}")  # fmt: skip
        return
    demands, truth = make_tiers(args.n_base, args.seed)
    counts = truth[TIER].replace("", "base / unrelated").value_counts()
    print(f"## Duplicate tiers benchmark: n_base={args.n_base}, seed={args.seed}, {len(demands)} demands\n")
    print("Machine: " + machine())
    print("Rows: " + ", ".join(f"{k} {v}" for k, v in counts.items()) + "\n")
    encoder = USEEncoder()
    encoder.encode(["预热"])  # load the model outside every timing
    start = time.perf_counter()
    threshold, cal_f1, n_cal = calibrate_cosine(encoder, args.n_base, args.seed)
    cal_seconds = time.perf_counter() - start
    how = ""

    def ningliang() -> np.ndarray:
        nonlocal how
        labels, how = run_ningliang(demands, encoder)
        return labels

    results = []
    for name, fn in (
        ("ningliang", ningliang),
        ("datasketch MinHashLSH", lambda: run_minhash(demands)),
        ("embedding cosine", lambda: run_cosine(demands, encoder, threshold)),
    ):
        labels, seconds = timed(fn)
        results.append(Result(name, labels, seconds))
    notes = [
        f"ningliang: DedupConfig() = {DedupConfig().model_dump()}; called as {how}; time includes normalise, "
        "segment (jieba) and USE encoding",
        f"datasketch MinHashLSH: char {SHINGLE}-shingles of title + text, num_perm={NUM_PERM}, "
        f"threshold={LSH_THRESHOLD}, no verification, connected components",
        f"embedding cosine: USE on title + first {COSINE_CHARS} chars of text, threshold t={threshold:.3f} "
        f"(best F1 {cal_f1:.3f} on make_tiers({n_cal}, seed={args.seed + CALIBRATION_SEED_OFFSET}), "
        f"calibration {cal_seconds:.1f} s not in the time column), connected components",
    ]
    report(results, truth, notes)


if __name__ == "__main__":
    main()
