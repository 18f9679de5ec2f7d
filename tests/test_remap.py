"""`ningliang remap`: a taxonomy edit re-maps the library, keeps human decisions and records what changed."""

import csv
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipelines import migrations as m
from pipelines import schema as s
from pipelines.cli import main
from pipelines.corrections import Correction
from pipelines.paths import REPO_ROOT
from pipelines.store import Library

ROWS = [
    ("eVTOL电动垂直起降飞行器飞控系统研制", "研制低空物流eVTOL飞行器的飞控与动力电池系统。"),
    ("放射性药物镥-177标记工艺", "开发医用同位素镥-177的核素标记与质控工艺。"),
    ("浓香型白酒窖泥微生物培养", "筛选培养己酸菌等功能微生物，提升基酒优质率。"),
    ("物流无人机低空配送系统", "开发工业级物流无人机及低空配送调度平台。"),
]


@pytest.mark.usefixtures("prefect_harness")
def test_remap_after_adding_n_chains_moves_demands_keeps_human_decisions_and_records_runs(tmp_path: Path) -> None:
    source = tmp_path / "call.csv"
    with source.open("w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["需求编号", "需求名称", "需求描述", "企业名称"])
        writer.writerows([f"N{i}", title, text, f"企业{i}"] for i, (title, text) in enumerate(ROWS))
    db = f"sqlite:///{tmp_path / 'lib.sqlite'}"
    cache = tmp_path / "cache"
    base = tmp_path / "base.yaml"
    base.write_text(f"embed:\n  cache_dir: {cache}\n", encoding="utf-8")
    runner = CliRunner()
    ran = runner.invoke(main, ["run", str(source), "--call", "c1", "--db", db, "--out", str(tmp_path / "out"),
                               "--config", str(base), "--quiet"])  # fmt: skip
    assert ran.exit_code == 0, ran.output
    with Library.open(db) as library:
        before = library.demands().set_index(s.EXTERNAL_ID)
        assert not before[s.CHAIN_ID].isin(["EM-LOWALT", "MH-NUCMED"]).any()  # not in the shipped taxonomy
        drone = str(before.loc["N3", s.DEMAND_ID])
        library.apply_corrections([Correction(drone, "EM", "EM-AERO", "王五")])
    extended = tmp_path / "n.yaml"
    n_chains = REPO_ROOT / "data" / "taxonomy" / "example-n-chains.yaml"
    extended.write_text(f"embed:\n  cache_dir: {cache}\nmapping:\n  extra_taxonomies: [{n_chains}]\n", encoding="utf-8")
    result = runner.invoke(main, ["remap", "--db", db, "--config", str(extended), "--quiet"])
    assert result.exit_code == 0, result.output
    assert "重新映射 4 条（分类版本" in result.output and "人工更正保持 1 条" in result.output
    with Library.open(db) as library:
        after = library.demands().set_index(s.EXTERNAL_ID)
        assert after.loc["N0", s.CHAIN_ID] == "EM-LOWALT" and after.loc["N1", s.CHAIN_ID] == "MH-NUCMED"
        assert after.loc["N2", s.CHAIN_ID] == before.loc["N2", s.CHAIN_ID] == "FT-BAIJIU"
        assert after.loc["N3", s.CHAIN_ID] == "EM-AERO"  # the human decision wins over the new chain
        runs = library.runs("c1")
        remap_run = runs.iloc[-1]
        assert remap_run[m.STATUS] == "succeeded" and "n1" in remap_run[m.TAXONOMY_VERSION]
        events = library.events(kind="mapping")
        moved = events[(events[m.RUN_ID] == remap_run[m.RUN_ID]) & (events[m.FIELD] == s.CHAIN_ID)]
        assert set(moved[m.NEW_VALUE]) == {"EM-LOWALT", "MH-NUCMED"}
    again = runner.invoke(main, ["remap", "--db", db, "--config", str(extended), "--quiet"])
    assert "变化 0 条" in again.output  # nothing left to change


def test_remap_of_an_empty_library_is_a_clear_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["remap", "--db", f"sqlite:///{tmp_path / 'empty.sqlite'}", "--quiet"])
    assert result.exit_code == 2 and "没有可重新映射的需求" in result.output
