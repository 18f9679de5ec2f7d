"""End-to-end scale benchmark: generated calls of several sizes through the real pipeline, stage times, peak memory
(the process tree), the incremental case, and the pipeline's overhead over its unavoidable work.

    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/scale.py --n 100000            # sizes 1k, 10k and 100k
    .venv/bin/python benchmarks/scale.py --n 10000 --sizes 1000                       # a quicker look

Each measured run is a fresh `ningliang run` subprocess on the default config with an empty embedding cache, a fresh
SQLite library and a fresh PREFECT_HOME, all in a temporary folder (the only config override is the cache folder).
Peak memory sums the resident memory of the CLI process and all its children (the Prefect API server), sampled every
0.1 s. The baseline, measured alone in the same script run on the same normalised texts, is segmentation (the default
Segmenter with the taxonomy's terms, titles and bodies) plus every encoder the default config runs (the sentence
encoder on the distinct titles and body sentences, uncached; the mapper's second encoder when configured). The
incremental case is a second call of `--incremental` demands (another seed) against the N-demand library: the flow
call is timed inside the subprocess (process start and imports excluded), and every earlier demand's ids are compared
before and after.

The last line is `overhead_ratio=<end-to-end s / baseline s at N> peak_rss_gb=<peak of the N run>`.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import contextlib

import numpy as np
import pandas as pd
import psutil

ROOT = Path(__file__).resolve().parents[1]
CLI = [str(Path(sys.executable).parent / "ningliang")]
ENV = {
    **os.environ,
    "OPENBLAS_NUM_THREADS": os.environ["OPENBLAS_NUM_THREADS"],
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "300",  # a busy 2-core machine can take long to start it
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_LOGGING_LEVEL": "WARNING",
    "PREFECT_LOGGING_TO_API_ENABLED": "false",
}
# columns of an earlier demand that a later call must never change
ID_COLUMNS = ("demand_id", "duplicate_group", "cluster_id", "cluster_group", "entry_id")


def _tree_rss(proc: psutil.Process) -> int:
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            total += p.memory_info().rss
    return total


def measured(cmd: list[str], env: dict[str, str], log: Path) -> tuple[float, float]:
    """Run cmd; (wall seconds, peak resident GB of the process tree)."""
    start = time.perf_counter()
    with log.open("w") as out:
        child = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    proc = psutil.Process(child.pid)
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            with contextlib.suppress(psutil.Error):
                peak = max(peak, _tree_rss(proc))
            time.sleep(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    code = child.wait()
    done.set()
    sampler.join()
    wall = time.perf_counter() - start
    if code != 0:
        sys.exit(f"{' '.join(cmd)} failed ({code}); see {log}:\n{log.read_text()[-2000:]}")
    return wall, peak / 1e9


def generate(n: int, seed: int, path: Path) -> list[Path]:
    """A generated call; above ~40 MB split into several files (ingest.max_file_mb is 50 by default: a 100k call is
    81 MB in one CSV, so it is submitted as several files, as a province's call would be)."""
    subprocess.run(
        [*CLI, "sample", "--n", str(n), "--seed", str(seed), "--out", str(path)],
        cwd=ROOT, env=ENV, check=True, capture_output=True,
    )  # fmt: skip
    parts = -(-path.stat().st_size // (40 * 2**20))
    if parts == 1:
        return [path]
    frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    files = []
    for k, chunk in enumerate(np.array_split(np.arange(len(frame)), parts)):
        files.append(path.with_name(f"{path.stem}-{k + 1}.csv"))
        frame.iloc[chunk].to_csv(files[-1], index=False, encoding="utf-8-sig")
    path.unlink()
    return files


class _Distinct:
    """An encoder that encodes each distinct text once."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name: str = inner.name

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        distinct, where = np.unique(np.array(texts, dtype=object), return_inverse=True)
        return self.inner.encode(distinct.tolist())[where]


def baseline(calls: list[Path]) -> dict[str, float]:
    """Segmentation + encoding alone on the pipeline's own texts (ingest and normalisation not timed)."""
    from pipelines.embed import demand_vectors, make_encoder, make_second_encoder
    from pipelines.ingest import ingest_files
    from pipelines.normalize import normalize_demands
    from pipelines.segment import Segmenter, segment_demands
    from pipelines.settings import PipelineConfig
    from pipelines.taxonomy import load_taxonomy

    config = PipelineConfig()
    frame = normalize_demands(ingest_files(calls, "baseline", config.ingest).demands, config.normalize)
    start = time.perf_counter()
    segmenter = Segmenter(config.segment, load_taxonomy(config.mapping.taxonomy).terms()).fit()
    segment_demands(frame, segmenter)
    segmented = time.perf_counter()
    # uncached, but each distinct text once (generated calls repeat titles and bodies; the pipeline's cache encodes
    # a repeated text once too, so encoding repeats here would flatter the ratio)
    encoder = _Distinct(make_encoder(config.embed.model_copy(update={"cache_dir": None})))
    demand_vectors(frame, encoder, config.embed)
    second = make_second_encoder(config.mapping.second_encoder, None)
    if second is not None:
        second.encode(frame["norm_title"].tolist())
    encoded = time.perf_counter()
    return {"segment": segmented - start, "encode": encoded - segmented, "total": encoded - start}


def flow_call(args: list[str]) -> None:
    """Subprocess mode: one consolidate_call timed from inside (process start and imports excluded)."""
    *calls, call_id, out, db, config_file = args
    from pipelines.flows import consolidate_call
    from pipelines.settings import load_config

    config = load_config(Path(config_file))
    _start_prefect_api()  # start-up, not the run: a served deployment talks to a running Prefect server
    start = time.perf_counter()
    consolidate_call([Path(c) for c in calls], call_id, Path(out), db, config, echo=False)
    print(json.dumps({"flow_seconds": time.perf_counter() - start}))


def _start_prefect_api() -> None:
    """Start the temporary Prefect API server this process would start at its first flow call, and point the
    process at it (PREFECT_API_URL), so that the timed call does not include the server's start (7-14 s)."""
    from prefect.server.api.server import SubprocessASGIServer
    from prefect.settings import PREFECT_API_URL, temporary_settings

    server = SubprocessASGIServer()
    server.start()
    temporary_settings(updates={PREFECT_API_URL: server.api_url}).__enter__()


def library_ids(db: str) -> pd.DataFrame:
    from pipelines.store import Library

    library = Library.open(db)
    try:
        demands = library.demands()
    finally:
        library.close()
    cols = [c for c in ID_COLUMNS if c in demands.columns]
    return demands[cols].set_index("demand_id").sort_index()


def run_size(n: int, work: Path, incremental: int) -> dict:
    work.mkdir(parents=True)
    calls = generate(n, 7, work / "call.csv")
    cfg = work / "config.yaml"
    cfg.write_text(f"embed:\n  cache_dir: {work / 'cache'}\n", encoding="utf-8")
    db = f"sqlite:///{work / 'library.sqlite'}"
    env = {**ENV, "PREFECT_HOME": str(work / "prefect")}
    base = baseline(calls)
    cmd = [
        *CLI,
        "run",
        *map(str, calls),
        "--call",
        f"scale-{n}",
        "--out",
        str(work / "out"),
        "--db",
        db,
        "--config",
        str(cfg),
    ]
    wall, peak = measured(cmd, env, work / "run.log")
    manifest = json.loads((work / "out" / "manifest.json").read_text(encoding="utf-8"))
    result = {"n": n, "wall": wall, "peak_gb": peak, "stages": manifest["stage_seconds"], "baseline": base,
              "steps": manifest.get("step_seconds", {})}  # fmt: skip
    if incremental:
        second = generate(incremental, 8, work / "second.csv")
        before = library_ids(db)
        out2 = work / "out2"
        script = str(Path(__file__).resolve())
        cmd2 = [sys.executable, script, "--flow-call", *map(str, second), "second", str(out2), db, str(cfg)]
        wall2, peak2 = measured(cmd2, env, work / "second.log")
        flow_seconds = json.loads((work / "second.log").read_text().strip().splitlines()[-1])["flow_seconds"]
        after = library_ids(db)
        kept = after.reindex(before.index)
        was, now = before.fillna("").astype(str), kept.fillna("").astype(str)
        diff = (was != "") & (now != was)  # an id an earlier demand had is now another (or gone)
        changed = int(diff.any(axis=1).sum())
        assigned = int(((was == "") & (now != "")).any(axis=1).sum())  # no group before, one now: nothing renamed
        before.join(kept.add_suffix("_after"))[diff.any(axis=1)].to_csv(work / "changed_ids.csv")
        manifest2 = json.loads((out2 / "manifest.json").read_text(encoding="utf-8"))
        result["incremental"] = {
            "n": incremental, "wall": wall2, "flow": flow_seconds, "peak_gb": peak2, "earlier": len(before),
            "changed": changed, "assigned": assigned, "by_column": {c: int(diff[c].sum()) for c in diff.columns},
            "stages": manifest2["stage_seconds"],
        }  # fmt: skip
    return result


def table(rows: list[list[str]], header: list[str]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join([*lines, *("| " + " | ".join(r) + " |" for r in rows)])


def report(results: list[dict]) -> None:
    stages = list(dict.fromkeys(k for r in results for k in r["stages"]))
    print(table([[k, *(f"{r['stages'].get(k, 0):.1f}" for r in results)] for k in stages],
                ["stage (s)", *(f"{r['n']:,}" for r in results)]))  # fmt: skip
    steps = list(dict.fromkeys(k for r in results for k in r.get("steps", {})))
    if steps:  # the flow's work between the stages
        print()
        print(table([[k, *(f"{r['steps'].get(k, 0):.1f}" for r in results)] for k in steps],
                    ["step between stages (s)", *(f"{r['n']:,}" for r in results)]))  # fmt: skip
    print()
    rows = []
    for r in results:
        b = r["baseline"]
        rows.append([f"{r['n']:,}", f"{r['wall']:.1f}", f"{sum(r['stages'].values()):.1f}", f"{b['segment']:.1f}",
                     f"{b['encode']:.1f}", f"{b['total']:.1f}", f"{r['wall'] / b['total']:.2f}",
                     f"{r['peak_gb']:.2f}"])  # fmt: skip
    print(table(rows, ["demands", "end to end s", "sum of stages s", "baseline segment s", "baseline encode s",
                       "baseline s", "overhead ratio", "peak RSS GB (tree)"]))  # fmt: skip
    for r in results:
        if inc := r.get("incremental"):
            print()
            row = [f"{inc['n']:,} into {r['n']:,}", f"{inc['wall']:.1f}", f"{inc['flow']:.1f}", f"{inc['peak_gb']:.2f}",
                   f"{inc['changed']} of {inc['earlier']:,} {inc['by_column']}", str(inc["assigned"])]  # fmt: skip
            header = ["second call", "process wall s", "flow call s (excl. start)", "peak RSS GB",
                      "earlier demands with a changed id (by column)", "earlier demands given a first id"]  # fmt: skip
            print(table([row], header))
            print(table([[k, f"{v:.1f}"] for k, v in inc["stages"].items()], ["second call stage", "s"]))


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--flow-call":
        flow_call(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000, help="the headline size (incremental case and last line)")
    parser.add_argument("--sizes", type=int, nargs="*", default=[1_000, 10_000], help="smaller sizes also run")
    parser.add_argument("--incremental", type=int, default=2_000, help="demands of the second call (0: skip)")
    parser.add_argument("--keep", type=Path, help="work folder to keep (default: a temporary one, removed)")
    args = parser.parse_args()
    load = os.getloadavg()
    print(
        f"machine: {os.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB; load average at start "
        f"{load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}; OPENBLAS_NUM_THREADS={os.environ['OPENBLAS_NUM_THREADS']}"
    )
    sizes = sorted({*(s for s in args.sizes if s < args.n), args.n})
    with tempfile.TemporaryDirectory(prefix="ningliang-scale-") as tmp:
        work = args.keep or Path(tmp)
        results = []
        for n in sizes:
            started = time.perf_counter()
            results.append(run_size(n, work / f"n{n}", args.incremental if n == args.n else 0))
            print(f"# {n:,} done in {time.perf_counter() - started:.0f} s (load {os.getloadavg()[0]:.2f})",
                  file=sys.stderr, flush=True)  # fmt: skip
    load = os.getloadavg()
    print(f"load average at end {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}\n")
    report(results)
    last = results[-1]
    print(f"\noverhead_ratio={last['wall'] / last['baseline']['total']:.2f} peak_rss_gb={last['peak_gb']:.2f}")


if __name__ == "__main__":
    main()
