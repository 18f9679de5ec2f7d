"""Resuming an interrupted run: finished stages are loaded, not redone; the output is identical to an uninterrupted
run's; a new human decision or a taxonomy edit gives a new key (pipelines/resume.py, flows.consolidate_call)."""

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from pipelines import flows
from pipelines.corrections import Correction
from pipelines.dedup import detect_pairs
from pipelines.resume import code_revision, library_revision, run_key
from pipelines.settings import EmbedConfig, PipelineConfig
from pipelines.store import Library
from tests.test_serve import ROWS, _write

FILES = pd.DataFrame({"file_name": ["a.csv"], "sha256": ["0" * 64]})
KEY_ARGS: dict[str, Any] = {
    "call_id": "c",
    "files": FILES,
    "config_hash": "cfg",
    "taxonomy": ("2026.11-1", "t" * 64),
    "mapper": "zero-shot-v1",
    "library": "lib",
    "code": "code",
}


def test_every_part_of_the_key_matters() -> None:
    key = run_key(**KEY_ARGS)
    assert key == run_key(**KEY_ARGS) and len(key) == 24
    changed = {
        "call_id": "c2",
        "files": FILES.assign(sha256=["1" * 64]),
        "config_hash": "cfg2",
        "taxonomy": ("2026.11-2", "t" * 64),  # a taxonomy edit bumps its version
        "mapper": "zero-shot-v1+e5",
        "library": "lib2",
        "code": "code2",
    }
    for name, value in changed.items():
        assert run_key(**KEY_ARGS | {name: value}) != key, name
    assert run_key(**KEY_ARGS | {"taxonomy": ("2026.11-1", "u" * 64)}) != key  # same version, edited content
    assert code_revision() == code_revision()


def _config(tmp_path: Path) -> PipelineConfig:
    return PipelineConfig(embed=EmbedConfig(cache_dir=tmp_path / "cache"))


def _run(tmp_path: Path, db: str, out: str, resume: Path | None) -> Any:
    return flows.consolidate_call(
        [tmp_path / "in" / "call.csv"], "r-1", tmp_path / out, db, _config(tmp_path), echo=False, resume_dir=resume
    )


@pytest.mark.usefixtures("prefect_harness")
def test_interrupted_run_resumes_with_identical_output_and_a_decision_invalidates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write(tmp_path / "in" / "call.csv", ROWS)
    computed: list[int] = []

    def counting_pairs(*args: Any) -> Any:
        computed.append(1)
        return detect_pairs(*args)

    def power_cut(*args: Any) -> Any:
        raise RuntimeError("interrupted")

    real_map = flows.map_task
    monkeypatch.setattr(flows, "code_revision", lambda: "fixed")  # others may edit the package while this runs
    monkeypatch.setattr(flows, "pairs_task", flows._task(counting_pairs, "duplicate-pairs"))
    straight = _run(tmp_path, f"sqlite:///{tmp_path / 'b.sqlite'}", "b", None)

    db, resume = f"sqlite:///{tmp_path / 'a.sqlite'}", tmp_path / "resume"
    monkeypatch.setattr(flows, "map_task", flows._task(power_cut, "map"))
    with pytest.raises(RuntimeError, match="interrupted"):
        _run(tmp_path, db, "a", resume)
    assert len(computed) == 2 and len(list(resume.iterdir())) == 1  # the finished stages are kept
    monkeypatch.setattr(flows, "map_task", real_map)
    resumed = _run(tmp_path, db, "a", resume)
    assert len(computed) == 2  # duplicate pairs loaded, not recomputed
    assert list(resume.iterdir()) == []  # removed after success
    for name in ("demands.csv", "clusters.csv", "duplicate_pairs.csv", "quarantine.csv"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    assert resumed.accepted == straight.accepted and resumed.clusters == straight.clusters

    monkeypatch.setattr(flows, "map_task", flows._task(power_cut, "map"))
    with pytest.raises(RuntimeError):
        _run(tmp_path, db, "a", resume)  # interrupted again: stages kept under the current library revision
    assert len(computed) == 3
    before = library_revision(db)
    with Library.open(db) as library:
        demand = library.demands()["demand_id"].iloc[0]
        library.apply_corrections([Correction(demand, "FT", "FT-FOOD", "赵六")])
    assert library_revision(db) != before  # a new human decision is a new library revision
    monkeypatch.setattr(flows, "map_task", real_map)
    _run(tmp_path, db, "a", resume)
    assert len(computed) == 4  # so the stages were computed afresh
