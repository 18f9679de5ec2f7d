"""Score the industry / chain mapper on a labelled JSONL file, and how it learns from imported corrections.

The labelled file has one demand a line: id, title, text, industry (list), chain (list), chain2 (as
../shared/data/real-demands-dev.jsonl); a prediction equal to any listed label counts as correct. The records are
written to a temporary call file (CSV, headers 需求编号 / 需求名称 / 需求描述 / 企业名称) and run through the shipped
flow `consolidate_call`; nothing is copied into the repository.

(a) Zero-shot: industry and chain accuracy (all, not flagged for review, split halves by id parity), NONE precision
    and recall, confusion by industry, reliability tables (confidence bucket -> share, measured accuracy).
(b) Learning curve: the ids are split into folds (fixed seed). For each fold and each k, the first k demands of a
    seeded order of the other folds are written as a correction CSV (external_id, industry_id, chain_id, reviewer,
    note) and imported with `ningliang review import FILE --db URL --call ID` (click, in process) into a copy of the
    base run's library; the flow then runs again on the same call and the held-out fold's rows of its demands.csv
    are scored. k = 0 is the base (zero-shot) run. Every row is held out exactly once per k.

Usage: python benchmarks/evaluate_mapping.py [--labelled FILE] [--folds 5] [--ks 0,25,50,100,150] [--seed 7]
       [--config FILE]
"""

import argparse
import csv
import itertools
import json
import os
import shutil
import sys
import tempfile
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_TO_API_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")  # a busy 2-core machine

from click.testing import CliRunner

from pipelines import schema as s
from pipelines.cli import main as ningliang
from pipelines.flows import consolidate_call
from pipelines.paths import REPO_ROOT
from pipelines.settings import PipelineConfig, load_config
from pipelines.taxonomy import INDUSTRY_IDS, Taxonomy, load_taxonomy

DEFAULT_LABELLED = REPO_ROOT.parent / "shared" / "data" / "real-demands-dev.jsonl"
CALL_ID = "eval-mapping"
BUCKETS = (0.0, 0.3, 0.5, 0.7, 0.9)  # lower edges; the last bucket is [0.9, 1]
INDUSTRY_ROWS = (*INDUSTRY_IDS, s.NONE)
REVIEWER = "评测脚本"
LEARNED_EVIDENCE = "人工更正学习模型"  # evidence of a demand the learned model's opinion was blended into


@dataclass(frozen=True)
class Labelled:
    """One labelled demand: acceptable industry ids and chain ids (NONE included)."""

    id: str
    title: str
    text: str
    industry: tuple[str, ...]
    chain: tuple[str, ...]


def load_labelled(path: Path) -> list[Labelled]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [
        Labelled(str(r["id"]), r["title"] or "", r["text"] or "", tuple(r["industry"]), tuple(r["chain"])) for r in rows
    ]


def write_call_input(records: Sequence[Labelled], path: Path) -> Path:
    """The labelled demands as a call file the pipeline reads (external id = record id; no enterprise)."""
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["需求编号", "需求名称", "需求描述", "企业名称"])
        writer.writerows([r.id, r.title, r.text, ""] for r in records)
    return path


def correction_label(record: Labelled, taxonomy: Taxonomy) -> tuple[str, str]:
    """The (industry_id, chain_id) a reviewer would import: the first valid pair of listed labels, in list order."""
    for chain in record.chain:
        for industry in record.industry:
            if taxonomy.is_valid(industry, chain):
                return industry, chain
    chain = record.chain[0]
    return (taxonomy.chain(chain).industry_id, chain) if chain != s.NONE else (record.industry[0], s.NONE)


# --- running the pipeline and the import ---------------------------------------------------------------------
@dataclass(frozen=True)
class Run:
    demands: pd.DataFrame  # demands.csv as strings
    mapper: str  # manifest.json "mapper"
    seconds: float


def run_flow(source: Path, out: Path, db: Path, config: PipelineConfig) -> Run:
    """One real run of the consolidate-call flow on the library file `db`; its demands.csv and mapper name."""
    start = time.perf_counter()
    consolidate_call([source], CALL_ID, out, f"sqlite:///{db}", config, echo=False)
    demands = pd.read_csv(out / "demands.csv", dtype=str, keep_default_na=False, encoding="utf-8-sig")
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    return Run(demands, str(manifest["mapper"]), time.perf_counter() - start)


def import_corrections(records: Sequence[Labelled], taxonomy: Taxonomy, path: Path, db: Path) -> str:
    """Write the records' labels as a correction CSV and import it with `ningliang review import`; its output."""
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["external_id", "industry_id", "chain_id", "reviewer", "note"])
        for r in records:
            writer.writerow([r.id, *correction_label(r, taxonomy), REVIEWER, "学习曲线评测"])
    args = ["review", "import", str(path), "--db", f"sqlite:///{db}", "--call", CALL_ID]
    result = CliRunner().invoke(ningliang, args)
    if result.exit_code != 0 or "未导入" in result.output:
        raise RuntimeError(f"ningliang review import failed ({result.exit_code}): {result.output}")
    return str(result.output)


# --- scoring --------------------------------------------------------------------------------------------------
def score(demands: pd.DataFrame, records: Sequence[Labelled]) -> pd.DataFrame:
    """Per labelled demand (index: record id): predictions, gold lists, correctness, confidences, half, review."""
    by_id = demands.drop_duplicates(s.EXTERNAL_ID).set_index(s.EXTERNAL_ID)
    rows = []
    for r in records:
        pred = by_id.loc[r.id]
        industry, chain = str(pred[s.INDUSTRY_ID]), str(pred[s.CHAIN_ID])
        rows.append(
            {
                "id": r.id,
                "pred_industry": industry,
                "pred_chain": chain,
                # a correct prediction counts in its own row; a wrong one under the first listed label
                "gold_industry": industry if industry in r.industry else r.industry[0],
                "industry_ok": industry in r.industry,
                "chain_ok": chain in r.chain,
                "industry_none_only": r.industry == (s.NONE,),
                "chain_none_only": r.chain == (s.NONE,),
                "confidence": float(pred[s.CONFIDENCE] or 0),
                "industry_confidence": float(pred[s.INDUSTRY_CONFIDENCE] or 0),
                "needs_review": str(pred[s.NEEDS_REVIEW]).lower() == "true",
                "blended": LEARNED_EVIDENCE in str(pred[s.EVIDENCE]),
                "half": "A" if int(r.id[-1], 16) % 2 == 0 else "B",
            }
        )
    return pd.DataFrame(rows).set_index("id")


def markdown(frame: pd.DataFrame) -> str:
    """A DataFrame as a markdown table (floats with 3 decimals)."""
    cells = [[f"{v:.3f}" if isinstance(v, float) else str(v) for v in row] for row in frame.itertuples(index=False)]
    lines = ["| " + " | ".join(map(str, frame.columns)) + " |", "|" + "---|" * len(frame.columns)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in cells])


def accuracy_table(scores: pd.DataFrame) -> pd.DataFrame:
    """Rows: all, not flagged for review, half A, half B; n, industry and chain accuracy."""
    parts = [
        ("all", scores),
        ("not flagged for review", scores[~scores["needs_review"]]),
        ("half A (even last hex digit)", scores[scores["half"] == "A"]),
        ("half B (odd last hex digit)", scores[scores["half"] == "B"]),
    ]
    return pd.DataFrame(
        [
            {
                "subset": name,
                "n": len(part),
                "industry acc": float(part["industry_ok"].mean()) if len(part) else float("nan"),
                "chain acc": float(part["chain_ok"].mean()) if len(part) else float("nan"),
            }
            for name, part in parts
        ]
    )


def none_table(scores: pd.DataFrame) -> pd.DataFrame:
    """NONE precision (predicted NONE and NONE among the listed labels) and recall (of demands labelled only
    NONE), for the industry (outside the six industries) and the chain (no key chain)."""
    rows = []
    for level in ("industry", "chain"):
        predicted = scores[f"pred_{level}"] == s.NONE
        gold = scores[f"{level}_none_only"]
        correct = predicted & scores[f"{level}_ok"]
        rows.append(
            {
                "level": level,
                "predicted NONE": int(predicted.sum()),
                "labelled only NONE": int(gold.sum()),
                "precision": float(correct.sum() / predicted.sum()) if predicted.any() else float("nan"),
                "recall": float((predicted & gold).sum() / gold.sum()) if gold.any() else float("nan"),
            }
        )
    return pd.DataFrame(rows)


def confusion_table(scores: pd.DataFrame) -> pd.DataFrame:
    """Gold industry rows x predicted industry columns (counts); a correct prediction sits on the diagonal."""
    counts = pd.crosstab(scores["gold_industry"], scores["pred_industry"])
    counts = counts.reindex(index=list(INDUSTRY_ROWS), columns=list(INDUSTRY_ROWS), fill_value=0)
    counts["total"] = counts.sum(axis=1)
    counts["acc"] = [
        float(counts.loc[i, i] / counts.loc[i, "total"]) if counts.loc[i, "total"] else float("nan")
        for i in counts.index
    ]
    return counts.rename_axis("gold \\ predicted").reset_index()


def reliability_table(confidence: pd.Series, correct: pd.Series) -> pd.DataFrame:
    """Confidence bucket -> count, share of demands, measured accuracy."""
    edges = [*BUCKETS, np.inf]
    names = [f"<{BUCKETS[1]}"]
    names += [f"{lo}-{hi}" for lo, hi in itertools.pairwise(BUCKETS[1:])] + [f">={BUCKETS[-1]}"]
    bucket = pd.cut(confidence, edges, right=False, labels=names)
    rows = []
    for name in names:
        mask = (bucket == name).to_numpy()
        rows.append(
            {
                "confidence": name,
                "n": int(mask.sum()),
                "share": float(mask.mean()) if len(mask) else 0.0,
                "accuracy": float(correct[mask].mean()) if mask.any() else float("nan"),
            }
        )
    return pd.DataFrame(rows)


# --- learning curve -------------------------------------------------------------------------------------------
def make_folds(ids: Sequence[str], n_folds: int, seed: int) -> list[list[str]]:
    """`n_folds` disjoint folds of the ids (seeded permutation, sizes differing by at most one)."""
    order = np.random.default_rng(seed).permutation(len(ids))
    return [[ids[i] for i in sorted(order[f::n_folds])] for f in range(n_folds)]


def training_order(records: Sequence[Labelled], held_out: Sequence[str], seed: int) -> list[Labelled]:
    """The other folds' records in a seeded order; the first k of it are the k corrections (nested in k)."""
    held = set(held_out)
    pool = [r for r in records if r.id not in held]
    return [pool[i] for i in np.random.default_rng(seed).permutation(len(pool))]


@dataclass(frozen=True)
class CurvePoint:
    k: int
    fold: int
    imported: int
    scores: pd.DataFrame  # the held-out fold's rows
    mapper: str
    decisions: int  # human decisions in the library after the import
    seconds: float


def learning_curve(
    records: Sequence[Labelled],
    base: tuple[Path, Path, Run],
    folds: Sequence[Sequence[str]],
    ks: Sequence[int],
    seed: int,
    config: PipelineConfig,
    work: Path,
) -> list[CurvePoint]:
    """For each k > 0 and fold: copy the base library, import k corrections from the other folds through
    `ningliang review import`, re-run the flow, score the held-out fold. k = 0 scores the base run."""
    from pipelines.store import Library

    source, base_db, base_run = base
    base_scores = score(base_run.demands, records)
    taxonomy = load_taxonomy(config.mapping.taxonomy, config.mapping.extra_taxonomies)
    points = []
    for k in ks:
        for f, held in enumerate(folds):
            if k == 0:
                points.append(CurvePoint(0, f, 0, base_scores.loc[list(held)], base_run.mapper, 0, 0.0))
                continue
            chosen = training_order(records, held, seed + f)[:k]
            db = work / f"k{k}-f{f}.sqlite"
            shutil.copyfile(base_db, db)
            start = time.perf_counter()
            import_corrections(chosen, taxonomy, work / f"k{k}-f{f}-corrections.csv", db)
            run = run_flow(source, work / f"k{k}-f{f}", db, config)
            with Library.open(f"sqlite:///{db}") as library:
                decisions = len(library.human_mappings())
            held_scores = score(run.demands, records).loc[list(held)]
            seconds = time.perf_counter() - start
            points.append(CurvePoint(k, f, len(chosen), held_scores, run.mapper, decisions, seconds))
            db.unlink()
    return points


def curve_table(points: Sequence[CurvePoint]) -> pd.DataFrame:
    """Per k: corrections imported per fold, held-out industry / chain accuracy (pooled over folds, and the
    folds' range), held-out share with chain confidence >= 0.9 and its chain accuracy, mapper of the runs."""
    rows = []
    for k in dict.fromkeys(p.k for p in points):
        mine = [p for p in points if p.k == k]
        pooled = pd.concat([p.scores for p in mine])
        fold_chain = [float(p.scores["chain_ok"].mean()) for p in mine]
        high = pooled[pooled["confidence"] >= BUCKETS[-1]]
        imported = sorted({p.imported for p in mine})
        learned = sum("+learned" in p.mapper for p in mine)
        decisions = sorted({p.decisions for p in mine})
        rows.append(
            {
                "k": k,
                "imported per fold": "/".join(map(str, imported)),
                "library decisions": "/".join(map(str, decisions)),
                "held-out n": len(pooled),
                "industry acc": float(pooled["industry_ok"].mean()),
                "chain acc": float(pooled["chain_ok"].mean()),
                "chain acc by fold": f"{min(fold_chain):.3f}-{max(fold_chain):.3f}",
                "conf >= 0.9 share": float(len(high) / len(pooled)),
                "conf >= 0.9 chain acc": float(high["chain_ok"].mean()) if len(high) else float("nan"),
                "runs with learned model": f"{learned}/{len(mine)}",
                "held-out blended": float(pooled["blended"].mean()),
            }
        )
    return pd.DataFrame(rows)


# --- main -----------------------------------------------------------------------------------------------------
def evaluate(
    records: Sequence[Labelled], work: Path, config: PipelineConfig, folds: int, ks: Sequence[int], seed: int
) -> dict[str, Any]:
    """Everything the script prints, as tables (DataFrames) and timings (seconds)."""
    timings: dict[str, float] = {}
    work.mkdir(parents=True, exist_ok=True)
    source = write_call_input(records, work / "call.csv")
    base_db = work / "base.sqlite"
    base_run = run_flow(source, work / "base", base_db, config)
    timings["base run (ingest into a fresh library, zero-shot)"] = base_run.seconds
    scores = score(base_run.demands, records)
    fold_ids = make_folds([r.id for r in records], folds, seed)
    start = time.perf_counter()
    points = learning_curve(records, (source, base_db, base_run), fold_ids, ks, seed, config, work)
    timings["learning curve (import + re-run per k > 0 and fold)"] = time.perf_counter() - start
    reruns = [p.seconds for p in points if p.k > 0]
    if reruns:
        timings["one import + re-run, mean"] = float(np.mean(reruns))
    high_k = max(ks)
    held_high = pd.concat([p.scores for p in points if p.k == high_k])
    return {
        "mapper": base_run.mapper,
        "accuracy": accuracy_table(scores),
        "none": none_table(scores),
        "confusion": confusion_table(scores),
        "reliability_chain": reliability_table(scores["confidence"], scores["chain_ok"]),
        "reliability_industry": reliability_table(scores["industry_confidence"], scores["industry_ok"]),
        "curve": curve_table(points),
        "reliability_chain_learned": reliability_table(held_high["confidence"], held_high["chain_ok"]),
        "max_k": high_k,
        "points": points,
        "timings": timings,
    }


def print_report(result: dict[str, Any], path: Path, n: int, folds: int, seed: int) -> None:
    sections = [
        (f"Zero-shot accuracy ({n} labelled demands, {path.name}; mapper {result['mapper']})", "accuracy"),
        ("NONE: outside the six industries (industry) / in no key chain (chain)", "none"),
        ("Confusion by industry (gold rows x predicted columns)", "confusion"),
        ("Reliability: chain confidence -> chain accuracy (zero-shot)", "reliability_chain"),
        ("Reliability: industry_confidence -> industry accuracy (zero-shot)", "reliability_industry"),
        (f"Learning curve: held-out accuracy after importing k corrections ({folds} folds, seed {seed})", "curve"),
        (f"Reliability on held-out folds after k = {result['max_k']} corrections (chain)", "reliability_chain_learned"),
    ]
    for title, key in sections:
        print(f"\n## {title}\n\n{markdown(result[key])}")
    print("\n## Timings (seconds)\n")
    for name, seconds in result["timings"].items():
        print(f"- {name}: {seconds:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--labelled", type=Path, default=DEFAULT_LABELLED, help="labelled JSONL file")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--ks", default="0,25,50,100,150", help="corrections imported, comma-separated")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--config", type=Path, help="YAML config overriding pipelines/settings.py (as ningliang run)")
    args = parser.parse_args()
    # few corrections over many chains: scikit-learn warns that the labels look continuous; they are not
    warnings.filterwarnings("ignore", message="The number of unique classes is greater than 50%")
    if not args.labelled.exists():
        sys.exit(f"labelled file not found: {args.labelled}")
    started = time.perf_counter()
    records = load_labelled(args.labelled)
    ks = [int(k) for k in args.ks.split(",") if k.strip()]
    with tempfile.TemporaryDirectory(prefix="eval-mapping-") as tmp:
        result = evaluate(records, Path(tmp), load_config(args.config), args.folds, ks, args.seed)
    result["timings"]["total"] = time.perf_counter() - started
    print_report(result, args.labelled, len(records), args.folds, args.seed)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
