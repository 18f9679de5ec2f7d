"""Staff decisions on the draft list: imported from the returned workbook, checked row by row, held by later runs."""

import csv
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from click.testing import CliRunner

from pipelines import schema as s
from pipelines.cli import main
from pipelines.decisions import StaffDecision, apply_staff_decisions, as_frame, check_decision, decorate_drafts

ROWS = [
    ("XQ-1", "高镍三元正极材料包覆改性技术", "开发高镍三元正极材料表面包覆工艺，循环寿命≥2000次。"),
    ("XQ-2", "高镍三元正极材料包覆改性技术", "开发高镍三元正极材料表面包覆工艺，循环寿命≥2000次。"),
    ("XQ-3", "白酒窖池温度智能监测系统", "对浓香型白酒窖池发酵温度进行实时监测，测温精度±0.5℃。"),
    ("XQ-4", "钛合金锻件热处理工艺优化", "优化TC4钛合金锻件热处理制度，提升强度。"),
    ("XQ-5", "中药配方颗粒质量标准研究", "建立中药配方颗粒特征图谱与含量测定方法。"),
]


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            s.DEMAND_ID: ["Da", "Db", "Dc", "Dd"],
            s.CLUSTER_ID: ["C1", "C1", "C1", ""],
            s.DUPLICATE_GROUP: ["", "", "", ""],
        }
    )


def test_checks_name_the_column_and_never_pass_a_bad_row() -> None:
    entries = {"C1": frozenset({"Da", "Db", "Dc"}), "Sd": frozenset({"Dd"})}
    bad = {
        StaffDecision("C9", "accept", "张三"): "未知条目",
        StaffDecision("C1", "accept", ""): "缺少审核人",
        StaffDecision("C1", "reject", "张三"): "需要在备注中说明理由",
        StaffDecision("C1", "merge", "张三", "同一需求", target="C1"): "不是另一个已有条目",
        StaffDecision("C1", "split", "张三", "不同", demand_ids=("Dd",)): "不在条目",
        StaffDecision("C1", "split", "张三", "不同", demand_ids=("Da", "Db", "Dc")): "全部需求",
        StaffDecision("C1", "retitle", "张三"): "新标题",
    }
    for decision, reason in bad.items():
        problem = check_decision(decision, entries)
        assert not isinstance(problem, StaffDecision) and reason in problem.reason, decision
    ok = StaffDecision("C1", "merge", "张三", "同一需求", target="Sd")
    assert check_decision(ok, entries) == ok


def test_splits_merges_and_withdrawals_reshape_entries_in_time_order() -> None:
    entries = {"C1": frozenset({"Da", "Db", "Dc"}), "Sd": frozenset({"Dd"})}
    taken = pd.concat(
        [
            as_frame([StaffDecision("C1", "split", "张三", "不同需求", demand_ids=("Dc",))], entries, "2026-11-01"),
            as_frame([StaffDecision("Sd", "merge", "李四", "同一需求", target="C1")], entries, "2026-11-02"),
            as_frame([StaffDecision("C1", "withdraw", "李四", "企业撤回", demand_ids=("Db",))], entries, "2026-11-03"),
        ]
    )
    shaped = apply_staff_decisions(_frame(), taken).set_index(s.DEMAND_ID)
    assert shaped[s.ENTRY_ID].to_dict() == {"Da": "C1", "Db": "C1", "Dc": "Sc", "Dd": "C1"}
    assert shaped[s.DEMAND_STATUS].to_dict() == {"Da": "", "Db": "withdrawn", "Dc": "", "Dd": ""}


def test_a_rejected_entry_comes_back_only_when_its_members_changed() -> None:
    entries = {"C1": frozenset({"Da", "Db"})}
    taken = as_frame([StaffDecision("C1", "reject", "张三", "不属重大任务")], entries, "2026-11-01")
    drafts = pd.DataFrame({s.ENTRY_ID: ["C1"], "member_ids": ["Da;Db"], "draft_title": ["标题"]})
    assert decorate_drafts(drafts, taken)["entry_status"].tolist() == ["不采纳"]
    grown = drafts.assign(member_ids="Da;Db;Dz")
    assert decorate_drafts(grown, taken)["entry_status"].tolist() == ["待审（曾不采纳，成员有变化）"]
    note = decorate_drafts(drafts, taken)["staff_note"].iloc[0]
    assert note == "张三 2026-11-01 不采纳：不属重大任务"


def _run(tmp_path: Path, db: str, out: str) -> Path:
    source = tmp_path / "call.csv"
    with source.open("w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["需求编号", "需求名称", "需求描述", "企业名称"])
        writer.writerows([*row, f"企业{i}"] for i, row in enumerate(ROWS))
    config = tmp_path / "c.yaml"
    config.write_text(f"embed:\n  cache_dir: {tmp_path / 'cache'}\n", encoding="utf-8")
    args = ["run", str(source), "--call", "c1", "--db", db, "--out", str(tmp_path / out), "--config", str(config)]
    result = CliRunner().invoke(main, [*args, "--quiet"])
    assert result.exit_code == 0, result.output
    return tmp_path / out


def _entries(book: openpyxl.Workbook) -> dict[str, tuple[object, int, str]]:
    """entry id -> (sheet, row, member ids) over the industry sheets."""
    found = {}
    for ws in book.worksheets:
        header = [c.value for c in ws[1]]
        if "条目编号" in header and "审核意见" in header:
            for row in range(2, ws.max_row + 1):
                entry = ws.cell(row=row, column=1).value
                found[str(entry)] = (
                    ws.title,
                    row,
                    str(ws.cell(row=row, column=header.index("成员需求编号") + 1).value),
                )
    return found


@pytest.mark.usefixtures("prefect_harness")
def test_decisions_from_the_returned_draft_workbook_hold_in_the_next_run_and_reach_the_audit(
    tmp_path: Path, library_url: str
) -> None:
    db = library_url  # SQLite and PostgreSQL (conftest)
    first = _run(tmp_path, db, "a")
    demands = pd.read_csv(first / "demands.csv", dtype=str, keep_default_na=False, encoding="utf-8-sig")
    by_ext = demands.set_index(s.EXTERNAL_ID)
    book = openpyxl.load_workbook(first / "draft_list.xlsx")
    entries = _entries(book)
    copies = str(by_ext.loc["XQ-1", s.ENTRY_ID])
    assert set(entries[copies][2].split(";")) == {by_ext.loc["XQ-1", s.DEMAND_ID], by_ext.loc["XQ-2", s.DEMAND_ID]}
    liquor, titanium, medicine = (str(by_ext.loc[x, s.ENTRY_ID]) for x in ("XQ-3", "XQ-4", "XQ-5"))
    answers = {  # entry -> (审核意见, 合并至条目, 涉及需求编号, 新标题, 审核人, 备注)
        copies: ("拆分", "", by_ext.loc["XQ-2", s.DEMAND_ID], "", "张三", "两家企业工况不同"),
        liquor: ("改标题", "", "", "白酒窖池发酵温度在线监测", "张三", ""),
        titanium: ("不采纳", "", "", "", "李四", "已有成熟方案"),
        medicine: ("合并", liquor, "", "", "李四", "测试合并"),
    }
    for entry, values in answers.items():
        sheet, row, _ = entries[entry]
        ws = book[sheet]
        header = [c.value for c in ws[1]]
        for name, value in zip(
            ("审核意见", "合并至条目", "涉及需求编号", "新标题", "审核人", "备注"), values, strict=True
        ):
            ws.cell(row=row, column=header.index(name) + 1, value=value)
    first_sheet = book[entries[titanium][0]]
    first_sheet.cell(row=first_sheet.max_row + 1, column=1, value="C0000")  # an unknown entry with a verdict
    first_sheet.cell(
        row=first_sheet.max_row, column=[c.value for c in first_sheet[1]].index("审核意见") + 1, value="采纳"
    )
    returned = tmp_path / "returned.xlsx"
    book.save(returned)

    runner = CliRunner()
    imported = runner.invoke(main, ["decisions", "import", str(returned), "--db", db])
    assert imported.exit_code == 0, imported.output
    assert "生效 4 条" in imported.output and "无效 1 条" in imported.output and "未知条目" in imported.output
    again = runner.invoke(main, ["decisions", "import", str(returned), "--db", db])
    assert "生效 0 条，已存在未变 4 条" in again.output

    second = _run(tmp_path, db, "b")
    drafts = pd.read_excel(second / "draft_list.xlsx", sheet_name=None, dtype=str)
    rows = pd.concat([f for f in drafts.values() if "条目编号" in f.columns]).set_index("条目编号")
    split_out = "S" + by_ext.loc["XQ-2", s.DEMAND_ID][1:]
    assert split_out in rows.index and rows.loc[copies, "成员需求编号"] == by_ext.loc["XQ-1", s.DEMAND_ID]
    assert rows.loc[liquor, "拟定标题"] == "白酒窖池发酵温度在线监测"
    assert rows.loc[titanium, "审核状态"] == "不采纳" and "李四" in rows.loc[titanium, "审核记录"]
    assert medicine not in rows.index and by_ext.loc["XQ-5", s.DEMAND_ID] in rows.loc[liquor, "成员需求编号"]

    audit = tmp_path / "audit.xlsx"
    exported = runner.invoke(main, ["audit", "export", "--call", "c1", "--db", db, "--out", str(audit)])
    assert exported.exit_code == 0, exported.output
    general = list(openpyxl.load_workbook(audit)["全库事件"].iter_rows(values_only=True))[1:]
    decided = [r for r in general if r[1] == "清单审核决定（人工）"]
    assert len(decided) == 4 and {r[2] for r in decided} == {"张三", "李四"}
    assert any(r[8].startswith("不采纳") and "已有成熟方案" in r[9] for r in decided)


def test_a_decision_taken_across_calls_still_holds_for_one_call_s_draft() -> None:
    entries = {"C1": frozenset({"Da", "Db", "Dz"})}  # Dz came in a later call
    taken = as_frame([StaffDecision("C1", "reject", "张三", "不属重大任务")], entries, "2026-11-01")
    earlier_call = pd.DataFrame({s.ENTRY_ID: ["C1"], "member_ids": ["Da;Db"], "draft_title": ["标题"]})
    assert decorate_drafts(earlier_call, taken)["entry_status"].tolist() == ["不采纳"]
