"""Duplicate detection on the real dev demands: known same-need pairs grouped, look-alikes kept apart.

The 173 real demands (`../shared/data/real-demands-dev.jsonl`, not part of the repository) carry no duplicate labels.
They were read by eye for re-posts and look-alikes (candidates: the most similar pairs by USE cosine and by
character-shingle Jaccard); the pairs below reference record ids only. The dev set holds no verbatim or lightly
edited re-post; one pair asks for the same thing in other words; the rest are look-alikes with different needs.

Usage: python benchmarks/real_reposts.py [path]   (a benchmark: tests never read the real demands)
"""

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.dedup_bench import prepare
from pipelines import schema as s
from pipelines.dedup import find_duplicates
from pipelines.embed import USEEncoder
from pipelines.settings import DedupConfig

DEFAULT_PATH = Path(__file__).resolve().parents[2] / "shared" / "data" / "real-demands-dev.jsonl"
SAME, APART = "same need", "different need"
PAIRS = [
    ("bdci19-8937bdd0", "bdci19-5211e572", SAME,
     "both ask for an electrolyte matched to high-nickel ternary (811) power cells; one adds targets, one is brief"),
    ("bdci19-1b7c2e5c", "bdci19-167d04d8", APART,
     "same form and smelting context, but lead-smelting slag reuse vs zinc-smelting waste acid treatment"),
    ("bdci19-5cb5ab42", "bdci19-4578a639", APART,
     "same enterprise and form: meat-pigeon breeding line vs pigeon disease prevention"),
    ("bdci19-0ef42596", "bdci19-16984c1d", APART,
     "fuel-cell power system: energy-management optimisation vs fault diagnosis and fault-tolerant control"),
    ("bdci19-ae90b3ac", "bdci19-98849702", APART, "welding: stainless/carbon clad plate vs low-alloy steel butt welds"),
    ("bdci19-601dcac0", "bdci19-040415b5", APART, "olefins from liquid oil in a fluidised bed vs PAO from olefins"),
    ("bdci19-787f3fe2", "bdci19-117d9bf7", APART,
     "commercial-vehicle fire suppression with direct-cooling thermal management vs battery fire-suppression control"),
]  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", nargs="?", type=Path, default=DEFAULT_PATH)
    args = parser.parse_args(argv)
    if not args.path.exists():
        print(f"{args.path} not found: nothing to report")
        return
    records = [json.loads(line) for line in args.path.read_text(encoding="utf-8").splitlines() if line.strip()]
    demands = pd.DataFrame(
        {s.DEMAND_ID: [r["id"] for r in records], s.TITLE: [r["title"] for r in records],
         s.TEXT: [r["text"] for r in records]}
    )  # fmt: skip
    encoder = USEEncoder()
    frame, full = prepare(demands, encoder)
    out = find_duplicates(frame, DedupConfig(), full, encoder).set_index(s.DEMAND_ID)
    group = out[s.DUPLICATE_GROUP]
    print(f"{len(out)} demands, {group[group != ''].nunique()} duplicate groups "
          f"({(group != '').sum()} demands in them)\n")  # fmt: skip
    print("| pair | truth | grouped together | as expected | why (by eye) |\n|---|---|---|---|---|")
    correct = 0
    for a, b, truth, why in PAIRS:
        if a not in group.index or b not in group.index:
            print(f"| {a} / {b} | {truth} | missing from the file | - | {why} |")
            continue
        together = group[a] != "" and group[a] == group[b]
        ok = together == (truth == SAME)
        correct += ok
        print(f"| {a} / {b} | {truth} | {'yes' if together else 'no'} | {'yes' if ok else 'NO'} | {why} |")
    print(f"\n{correct} of {len(PAIRS)} pairs as expected")
    others = out[(group != "")].groupby(s.DUPLICATE_GROUP).groups
    listed = {d for a, b, _, _ in PAIRS for d in (a, b)}
    extra = [sorted(m) for m in others.values() if not set(m) & listed]
    print(f"groups among unlisted demands: {extra or 'none'}")


if __name__ == "__main__":
    main()
