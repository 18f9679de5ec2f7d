"""Quality figures quoted in the README, measured by running the shipped pipeline end to end.

1. The bundled sample call (data/samples/sample-call.xlsx) against its ground truth: duplicate-group pairwise
   precision / recall / F1 (all planted copies, and by kind), industry and chain accuracy.
2. The real labelled demands in ../shared/data/real-demands-dev.jsonl (when present): industry and chain accuracy,
   a prediction equal to any listed label counting as correct; also on the two halves (by id parity).

Usage: python benchmarks/evaluate.py [--shared ../shared]
"""

import argparse
import itertools
import json
import os
import sys
import tempfile
from pathlib import Path

import pandas as pd

os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_TO_API_ENABLED", "false")

from pipelines.flows import consolidate_call
from pipelines.paths import DATA_DIR, REPO_ROOT
from pipelines.settings import PipelineConfig


def run_pipeline(inputs: list[Path], call_id: str, work: Path) -> pd.DataFrame:
    out = work / call_id
    consolidate_call(inputs, call_id, out, f"sqlite:///{work / 'eval.sqlite'}", PipelineConfig(), echo=False)
    return pd.read_csv(out / "demands.csv", dtype=str, keep_default_na=False, encoding="utf-8-sig")


def pairs(groups: pd.Series) -> set[tuple[str, str]]:
    """All unordered pairs of index labels that share a non-empty group value."""
    out: set[tuple[str, str]] = set()
    for _, members in groups[groups != ""].groupby(groups[groups != ""]):
        out.update(itertools.combinations(sorted(members.index), 2))
    return out


def prf(predicted: set[tuple[str, str]], truth: set[tuple[str, str]]) -> tuple[float, float, float]:
    tp = len(predicted & truth)
    p = tp / len(predicted) if predicted else 1.0
    r = tp / len(truth) if truth else 1.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def evaluate_sample(work: Path) -> None:
    xlsx = DATA_DIR / "samples" / "sample-call.xlsx"
    truth = pd.read_csv(DATA_DIR / "samples" / "sample-call-truth.csv", dtype=str, keep_default_na=False)
    demands = run_pipeline([xlsx], "eval-sample", work).set_index("external_id")
    truth = truth.set_index("external_id").loc[demands.index]
    predicted = pairs(demands["duplicate_group"])
    planted = pairs(truth["dup_set"])
    print(f"## Sample call ({len(demands)} demands, {xlsx.relative_to(REPO_ROOT)})\n")
    print("| measure | precision | recall | F1 |\n|---|---|---|---|")
    p, r, f = prf(predicted, planted)
    print(f"| duplicate pairs, all planted ({len(planted)}) | {p:.3f} | {r:.3f} | {f:.3f} |")
    for kind in ("exact", "reworded"):
        ids = set(truth.index[truth["dup_kind"].isin([kind, "original"])])
        kind_pairs = {
            pair for pair in planted if truth.loc[pair[0], "dup_kind"] == kind or truth.loc[pair[1], "dup_kind"] == kind
        }
        kind_pairs = {pair for pair in kind_pairs if set(pair) <= ids}
        hit = len(kind_pairs & predicted)
        print(f"| recall on {kind} copies ({len(kind_pairs)} pairs) | | {hit / max(len(kind_pairs), 1):.3f} | |")
    industry = (demands["industry_id"] == truth["industry_id"]).mean()
    chain = (demands["chain_id"] == truth["chain_id"]).mean()
    either = ((demands["chain_id"] == truth["chain_id"]) | (demands["chain_id"] == truth["chain2_id"])).mean()
    print(f"\nindustry accuracy {industry:.3f}; chain accuracy {chain:.3f} (primary), {either:.3f} (primary or second)")


def evaluate_dev(shared: Path, work: Path) -> None:
    path = shared / "data" / "real-demands-dev.jsonl"
    if not path.exists():
        print(f"\n(skipped real demands: {path} not found)")
        return
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    feed = work / "dev.jsonl"
    with feed.open("w", encoding="utf-8") as fh:
        for r in records:
            fh.write(
                json.dumps({"id": r["id"], "title": r["title"], "text": r["text"] or ""}, ensure_ascii=False) + "\n"
            )
    demands = run_pipeline([feed], "eval-dev", work).set_index("external_id")
    labels = {r["id"]: r for r in records}
    rows = []
    for ext, row in demands.iterrows():
        rec = labels[str(ext)]
        rows.append(
            {
                "half": "A" if int(str(ext)[-1], 16) % 2 == 0 else "B",
                "industry": row["industry_id"] in rec["industry"],
                "chain": row["chain_id"] in rec["chain"],
                "review": row["needs_review"] == "true",
            }
        )
    scores = pd.DataFrame(rows)
    print(f"\n## Real demands ({len(scores)} labelled, {path.name}); human agreement .959 / .883\n")
    print("| subset | n | industry acc | chain acc | flagged for review |\n|---|---|---|---|---|")
    for name, part in [("all", scores), *scores.groupby("half")]:
        print(
            f"| {name} | {len(part)} | {part['industry'].mean():.3f} | {part['chain'].mean():.3f} |"
            f" {part['review'].mean():.2f} |"
        )
    confident = scores[~scores["review"]]
    if len(confident):
        print(
            f"\nNot flagged for review ({len(confident)}): industry {confident['industry'].mean():.3f}, "
            f"chain {confident['chain'].mean():.3f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=REPO_ROOT.parent / "shared")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        evaluate_sample(Path(tmp))
        evaluate_dev(args.shared, Path(tmp))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
