"""`ningliang audit export`: every decision on a call's demands in one workbook, for the supervision office."""

from pathlib import Path

import openpyxl
import pandas as pd
from click.testing import CliRunner

from pipelines import schema as s
from pipelines.cli import main
from pipelines.corrections import Correction
from pipelines.store import Library


def _library(url: str) -> str:
    demands = pd.DataFrame(
        {
            s.DEMAND_ID: ["Da1", "Da2"],
            s.CALL_ID: "c1",
            s.EXTERNAL_ID: ["X-1", "=X-2"],
            s.TITLE: ["全钒液流电池电解液", '=HYPERLINK("http://x")碳纤维'],
            s.INDUSTRY_ID: ["AM", "AM"],
            s.CHAIN_ID: ["AM-VTI", "AM-CHEMMAT"],
            s.EVIDENCE: ["判定：钒钛（概率 0.55）", "判定：化工新材料"],
            s.DUPLICATE_GROUP: ["", ""],
            s.CLUSTER_ID: ["Cx", "Cx"],
            s.CLUSTER_LABEL: ["电解液、碳纤维", "电解液、碳纤维"],
        }
    )
    with Library.open(url) as library:
        run = library.start_run("c1", "cfg", "2026.11-1", "use")
        library.save_call(run, demands, pd.DataFrame())
        library.finish_run(run, "succeeded", {"mapper": "zero-shot-v1"})
        other = library.start_run("c2", "cfg", "2026.11-1", "use")
        library.save_call(other, demands.assign(**{s.DEMAND_ID: ["Db1", "Db2"], s.CALL_ID: "c2"}), pd.DataFrame())
        report = library.apply_corrections([Correction("Da1", "EC", "EC-BATT", "张三", note="钒电池属动力电池链")])
        assert not report.problems
    return url


def test_audit_export_lists_automated_and_human_decisions_with_who_when_why(tmp_path: Path, library_url: str) -> None:
    url = _library(library_url)
    out = tmp_path / "audit.xlsx"
    result = CliRunner().invoke(main, ["audit", "export", "--call", "c1", "--db", url, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "已导出审计工作簿" in result.output
    book = openpyxl.load_workbook(out)
    assert book.sheetnames == ["决定记录", "运行记录", "人工判定", "全库事件"]
    rows = list(book["决定记录"].iter_rows(values_only=True))
    header, body = rows[0], rows[1:]
    assert header[:3] == ("时间（UTC）", "决定类型", "执行者")
    kinds = [r[1] for r in body]
    assert kinds.count("产业映射（自动）") == 4 and kinds.count("人工更正") == 2  # industry + chain, twice
    assert {r[3] for r in body} == {"Da1", "Da2"}  # the other call's demands are not in this call's audit
    human = [r for r in body if r[1] == "人工更正"]
    assert {(r[2], r[6], r[8]) for r in human} == {("张三", "所属产业", "EC"), ("张三", "所属产业链", "EC-BATT")}
    assert all("钒电池属动力电池链" in r[9] for r in human)
    assert any(r[1] == "查重/聚类（自动）" and r[9] == "电解液、碳纤维" for r in body)
    runs = list(book["运行记录"].iter_rows(values_only=True))[1:]
    assert [(r[1], r[4], r[5], r[7]) for r in runs] == [("succeeded", "批次处理", "2026.11-1", "zero-shot-v1")]
    decided = list(book["人工判定"].iter_rows(values_only=True))[1:]
    assert [(r[0], r[4], r[5]) for r in decided] == [("Da1", "EC-BATT", "张三")]
    for sheet in book.worksheets:  # user text never becomes a formula
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.data_type != "f"
                assert not (isinstance(cell.value, str) and cell.value[:1] in "=+-@")


def test_audit_of_an_unknown_call_is_a_clear_error(tmp_path: Path, library_url: str) -> None:
    url = _library(library_url)
    result = CliRunner().invoke(
        main, ["audit", "export", "--call", "nope", "--db", url, "--out", str(tmp_path / "a.xlsx")]
    )
    assert result.exit_code == 2 and "没有批次“nope”" in result.output
