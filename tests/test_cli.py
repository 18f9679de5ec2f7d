"""The `ningliang` command as a user meets it: good calls, bad files, hostile text."""

import csv
import os
import subprocess
import sys
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from click.testing import CliRunner

from pipelines.cli import main
from pipelines.settings import MappingConfig
from pipelines.taxonomy import load_taxonomy

HEADER = ["需求编号", "需求名称", "需求描述"]
ROWS = [
    ["A-1", "钛合金航空锻件热处理工艺优化", "需求内容：提升钛合金锻件的强度与韧性匹配。\n预期目标：抗拉强度≥1100MPa。"],
    ["A-2", "=SUM(1+2)", "+cmd|' /C calc'!A0 -2+3 @SUM(A1)"],
    ["A-3", "<script>alert('x')</script>智能网联汽车域控制器", "<img src=x onerror=alert(1)>开发车载域控制器软件。"],
    ["A-4", "中药配方颗粒质量标准研究", ""],
]


pytestmark = pytest.mark.usefixtures("prefect_harness")


def _csv(path: Path, rows: list[list[str]], encoding: str = "utf-8-sig") -> Path:
    with path.open("w", encoding=encoding, newline="") as fh:
        csv.writer(fh).writerows([HEADER, *rows])
    return path


def _run(tmp_path: Path, *inputs: Path) -> tuple[int, str, Path]:
    out = tmp_path / "out"
    args = ["run", *map(str, inputs), "--call", "c1", "--out", str(out), "--db", f"sqlite:///{tmp_path / 'l.sqlite'}"]
    env = {"NINGLIANG_TEST": "1"}
    result = CliRunner().invoke(main, [*args, "--quiet"], env=env)
    return result.exit_code, result.output, out


def test_a_plain_csv_gives_all_six_outputs(tmp_path: Path) -> None:
    code, output, out = _run(tmp_path, _csv(tmp_path / "call.csv", ROWS))
    assert code == 0, output
    assert "报告：" in output and "待复核" in output
    assert {p.name for p in out.iterdir()} >= {
        "demands.csv",
        "clusters.csv",
        "quarantine.csv",
        "draft_list.xlsx",
        "report.html",
        "manifest.json",
        "duplicate_pairs.csv",
    }
    demands = pd.read_csv(out / "demands.csv", dtype=str, keep_default_na=False, encoding="utf-8-sig")
    assert sorted(demands["external_id"]) == ["A-1", "A-2", "A-3", "A-4"]
    taxonomy = load_taxonomy(MappingConfig().taxonomy)
    assert all(taxonomy.is_valid(i, c) for i, c in zip(demands["industry_id"], demands["chain_id"], strict=True))


def test_hostile_text_is_inert_in_every_output(tmp_path: Path) -> None:
    code, output, out = _run(tmp_path, _csv(tmp_path / "call.csv", ROWS))
    assert code == 0, output
    with (out / "demands.csv").open(encoding="utf-8-sig", newline="") as fh:
        for row in csv.reader(fh):
            assert not any(field[:1] in ("=", "+", "-", "@", "\t", "\r") for field in row)
    book = openpyxl.load_workbook(out / "draft_list.xlsx")
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.data_type != "f"
                assert not (isinstance(cell.value, str) and cell.value[:1] in ("=", "+", "-", "@"))
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "<script>alert" not in html and "<img src=x" not in html
    assert html.count("<script") == 2  # the report's own JSON data block and its hash-allowed filter script
    assert "&lt;script&gt;" in html


def test_gbk_csv_is_read(tmp_path: Path) -> None:
    code, output, out = _run(tmp_path, _csv(tmp_path / "gbk.csv", ROWS[:1], encoding="gbk"))
    assert code == 0, output
    demands = pd.read_csv(out / "demands.csv", dtype=str, encoding="utf-8-sig")
    assert demands.loc[0, "title"] == "钛合金航空锻件热处理工艺优化"


def test_a_bad_file_is_reported_and_the_rest_still_runs(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    code, output, out = _run(tmp_path, empty, _csv(tmp_path / "call.csv", ROWS[:2]))
    assert code == 0, output
    assert "empty.csv" in output and "无法读取" in output
    assert len(pd.read_csv(out / "demands.csv", encoding="utf-8-sig")) == 2


def test_sample_command_writes_a_call_and_its_truth(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["sample", "--n", "120", "--seed", "3", "--out", str(tmp_path / "s.csv")])
    assert result.exit_code == 0, result.output
    truth = pd.read_csv(tmp_path / "s-truth.csv", dtype=str)
    assert len(pd.read_csv(tmp_path / "s.csv", dtype=str, encoding="utf-8-sig")) == len(truth) == 120


def test_no_usable_file_exits_2_with_one_line_and_no_traceback(tmp_path: Path) -> None:
    """The real executable, as a user runs it: the message names each file and why."""
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    other = tmp_path / "other.csv"
    other.write_text("名称A,备注\nx,y\n", encoding="utf-8")
    exe = Path(sys.executable).with_name("ningliang")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    proc = subprocess.run(
        [
            str(exe),
            "run",
            str(empty),
            str(other),
            "--call",
            "c",
            "--out",
            str(tmp_path / "o"),
            "--db",
            f"sqlite:///{tmp_path / 'l.sqlite'}",
            "--quiet",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("错误：")
    assert "empty.csv" in lines[0] and "other.csv" in lines[0]


def test_a_failing_stage_becomes_one_chinese_line_and_a_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from prefect import task

    from pipelines import flows

    def explode(*_: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(flows, "cluster_task", task(name="cluster")(explode))
    code, output, out = _run(tmp_path, _csv(tmp_path / "call.csv", ROWS[:2]))
    assert code == 1
    lines = [line for line in output.splitlines() if line.strip()]
    assert lines[-1].startswith("错误：处理中断（RuntimeError: boom）")
    assert "Traceback" not in output
    assert "RuntimeError: boom" in (out / "error.log").read_text(encoding="utf-8")
