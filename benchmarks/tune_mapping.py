"""Sweep the zero-shot mapper's few parameters on one half of the real dev demands and score the other half.

Honest protocol: choose on half A (ids with an even last hex digit), report B, and the reverse; the taxonomy text was
written without reading these records. Usage: python benchmarks/tune_mapping.py [--shared ../shared]
"""

import argparse
import itertools
import json
from pathlib import Path

import numpy as np
import pandas as pd

from pipelines import schema as s
from pipelines.embed import demand_vectors, make_encoder
from pipelines.mapping import IndustryMapper
from pipelines.normalize import normalize_demands
from pipelines.paths import REPO_ROOT
from pipelines.settings import MappingConfig, PipelineConfig
from pipelines.taxonomy import load_taxonomy

GRID = {
    "temperature": [0.02, 0.03, 0.05],
    "keyword_weight": [0.0, 0.5, 1.0, 2.0],
    "title_weight": [0.3, 0.5, 0.7],
    "industry_weight": [0.0, 0.5, 1.0],
}


def load_dev(shared: Path) -> tuple[pd.DataFrame, list[dict[str, list[str]]]]:
    path = shared / "data" / "real-demands-dev.jsonl"
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    frame = pd.DataFrame({s.TITLE: [r["title"] for r in records], s.TEXT: [r["text"] or "" for r in records]})
    frame[s.FLAGS] = np.where(frame[s.TEXT] == "", "no_description", "")
    return frame, records


def accuracy(pred: pd.DataFrame, records: list[dict[str, list[str]]], mask: np.ndarray) -> tuple[float, float]:
    ind = np.array([p in r["industry"] for p, r in zip(pred[s.INDUSTRY_ID], records, strict=True)])
    chain = np.array([p in r["chain"] for p, r in zip(pred[s.CHAIN_ID], records, strict=True)])
    return float(ind[mask].mean()), float(chain[mask].mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=REPO_ROOT.parent / "shared")
    args = parser.parse_args()
    config = PipelineConfig()
    frame, records = load_dev(args.shared)
    frame = normalize_demands(frame, config.normalize)
    encoder = make_encoder(config.embed)
    title_vecs, body_vecs, _ = demand_vectors(frame, encoder, config.embed)
    taxonomy = load_taxonomy(config.mapping.taxonomy)
    half_a = np.array([int(r["id"][-1], 16) % 2 == 0 for r in records])
    results = []
    for values in itertools.product(*GRID.values()):
        params = dict(zip(GRID, values, strict=True))
        mapper = IndustryMapper(taxonomy, encoder, MappingConfig(**params)).fit()
        pred = mapper.predict(frame, title_vecs, body_vecs)
        results.append((params, accuracy(pred, records, half_a), accuracy(pred, records, ~half_a)))
    default = MappingConfig()
    print("| chosen on | params | industry / chain on the other half |\n|---|---|---|")
    for name, pick, other in (("A", 1, 2), ("B", 2, 1)):
        best = max(results, key=lambda r: (r[pick][0] + r[pick][1], -abs(r[0]["temperature"] - default.temperature)))
        print(f"| {name} | {best[0]} | {best[other][0]:.3f} / {best[other][1]:.3f} |")
    current = next(r for r in results if all(r[0][k] == getattr(default, k) for k in GRID))
    print(f"\ndefault {dict((k, getattr(default, k)) for k in GRID)}: A {current[1]} B {current[2]}")


if __name__ == "__main__":
    main()
