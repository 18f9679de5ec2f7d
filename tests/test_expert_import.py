"""`ningliang scores import`: expert scores checked against the library's entries, stored with an event each,
idempotent, and applied (replace / blend, ranking) by the next run."""

import csv
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from pipelines import schema as s
from pipelines.cli import main
from pipelines.store import Library

A1, A2, A3 = (f"D{i:016x}" for i in range(1, 4))
CLUSTER = "C" + "b" * 16
HEADER = ["条目编号", "紧迫度", "解决难易度", "市场推广", "专家姓名"]


def _library(url: str) -> str:
    demands = pd.DataFrame(
        {
            s.DEMAND_ID: [A1, A2, A3], s.CALL_ID: "c1", s.TITLE: ["隔膜涂覆", "隔膜检测", "白酒窖池监测"],
            s.CHAIN_ID: ["EC-BATT", "EC-BATT", "FT-LIQUOR"], s.DUPLICATE_GROUP: "",
            s.CLUSTER_ID: [CLUSTER, CLUSTER, ""],
        }
    )  # fmt: skip
    with Library.open(url) as library:
        run = library.start_run("c1", "cfg", "2026.11-1", "use")
        library.save_call(run, demands, pd.DataFrame())
    return url


def _write(path: Path, rows: list[list[object]]) -> Path:
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        csv.writer(fh).writerows([HEADER, *rows])
    return path


def test_import_stores_valid_rows_reports_bad_ones_and_is_idempotent(tmp_path: Path, library_url: str) -> None:
    db = _library(library_url)
    single = "S" + A3[1:]
    scores = _write(
        tmp_path / "experts.csv",
        [
            [CLUSTER, 80, 60, 70, "张三"],
            [single, 50, "", 40, "李四"],  # a dimension left blank is not scored
            ["C" + "f" * 16, 50, 50, 50, "张三"],  # well formed, but not in the library
            [CLUSTER, "高", 50, 50, "李四"],
            [CLUSTER, 120, 50, 50, "王五"],
            [CLUSTER, 50, 50, 50, ""],
        ],
    )
    runner = CliRunner()
    result = runner.invoke(main, ["scores", "import", str(scores), "--db", db])
    assert result.exit_code == 0, result.output
    assert "experts.csv：生效 2 条，已存在未变 0 条，无效 4 条" in result.output
    problems = [line for line in result.output.splitlines() if line.startswith("  无效：")]
    assert [p.split("第 ")[1].split(" 行")[0] for p in problems] == ["4", "5", "6", "7"]  # file row order
    assert "条目编号：需求库中没有条目“Cffffffffffffffff”（未知条目" in problems[0]
    assert "不是数字" in problems[1] and "超出 0-100" in problems[2] and "缺少专家姓名" in problems[3]
    with Library.open(db) as library:
        stored = {(r["entry_id"], r["expert"]): r for r in library.expert_scores().to_dict("records")}
        events = library.events(kind="expert_score")
    assert [stored[CLUSTER, "张三"][d] for d in ("urgency", "difficulty", "market")] == [80, 60, 70]
    assert pd.isna(stored[single, "李四"]["difficulty"]) and stored[CLUSTER, "张三"]["members"] == f"{A1};{A2}"
    assert sorted(events["actor"]) == ["张三", "李四"] and set(events["call_id"]) == {"c1"}
    assert "紧迫度 80；解决难易度 60；市场推广 70" in set(events["new_value"])

    again = runner.invoke(main, ["scores", "import", str(scores), "--db", db])
    assert "生效 0 条，已存在未变 2 条，无效 4 条" in again.output
    changed = _write(tmp_path / "changed.csv", [[CLUSTER, 90, 60, 70, "张三"]])
    assert "生效 1 条" in runner.invoke(main, ["scores", "import", str(changed), "--db", db]).output
    with Library.open(db) as library:
        assert library.expert_scores().set_index(["entry_id", "expert"]).loc[(CLUSTER, "张三"), "urgency"] == 90
        events = library.events(kind="expert_score")
    assert len(events) == 3 and "替换此前评分（紧迫度 80；" in events["evidence"].iloc[-1]


def test_an_unreadable_file_fails_but_the_others_are_imported(tmp_path: Path, library_url: str) -> None:
    db = _library(library_url)
    good = _write(tmp_path / "good.csv", [[CLUSTER, 80, 60, 70, "张三"]])
    headless = tmp_path / "headless.csv"
    headless.write_text("a,b\n1,2\n", encoding="utf-8")
    result = CliRunner().invoke(
        main, ["scores", "import", str(headless), str(tmp_path / "missing.xlsx"), str(good), "--db", db]
    )
    assert result.exit_code == 2
    assert "找不到专家评分表头" in result.output and "missing.xlsx" in result.output
    assert "good.csv：生效 1 条" in result.output and "2 个文件无法读取" in result.output


ROWS = [
    ("XQ-1", "高镍三元正极材料包覆改性技术", "开发高镍三元正极材料表面包覆工艺，循环寿命≥2000次。", "2027年6月"),
    ("XQ-2", "高镍三元正极材料包覆改性技术", "开发高镍三元正极材料表面包覆工艺，循环寿命≥2000次。", ""),
    ("XQ-3", "白酒窖池温度智能监测系统", "对浓香型白酒窖池发酵温度进行实时监测，测温精度±0.5℃。", ""),
    ("XQ-4", "动力电池包热失控预警技术", "研究动力电池包热失控早期预警传感器与算法，预警提前时间≥5分钟。", ""),
]


def _run(tmp_path: Path, db: str, out: str) -> dict[str, dict[str, str]]:
    """Run the call; the draft list's entries (条目编号 -> row) over the industry sheets, in sheet order."""
    source = tmp_path / "call.csv"
    with source.open("w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["需求编号", "需求名称", "需求描述", "期望完成时间", "企业名称"])
        writer.writerows([*row, f"企业{i}"] for i, row in enumerate(ROWS))
    config = tmp_path / "c.yaml"
    config.write_text(f"embed:\n  cache_dir: {tmp_path / 'cache'}\n", encoding="utf-8")
    args = ["run", str(source), "--call", "c1", "--db", db, "--out", str(tmp_path / out), "--config", str(config)]
    result = CliRunner().invoke(main, [*args, "--quiet"])
    assert result.exit_code == 0, result.output
    sheets = pd.read_excel(tmp_path / out / "draft_list.xlsx", sheet_name=None, dtype=str, keep_default_na=False)
    rows = pd.concat([f for f in sheets.values() if "条目编号" in f.columns])
    return {str(r["条目编号"]): {str(k): str(v) for k, v in r.items()} for r in rows.to_dict("records")}


@pytest.mark.usefixtures("prefect_harness")
def test_the_next_run_applies_the_imported_expert_scores_and_the_ranking_follows(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'lib.sqlite'}"
    before = _run(tmp_path, db, "a")
    copies = next(e for e, r in before.items() if r["拟定标题"].startswith("高镍"))
    warning = next(e for e, r in before.items() if r["拟定标题"].startswith("动力电池包"))
    assert before[copies]["产业链"] == before[warning]["产业链"]  # one chain, two entries
    assert (before[copies]["链内排名"], before[warning]["链内排名"]) == ("1", "2")  # deadline + 2 enterprises
    scores = _write(
        tmp_path / "experts.csv",
        [
            [warning, 90, 80, 95, "张三"], [warning, 80, 70, 85, "李四"],
            [copies, 10, 20, 10, "张三"], [copies, "急", 1, 1, "李四"],
        ],
    )  # fmt: skip
    imported = CliRunner().invoke(main, ["scores", "import", str(scores), "--db", db])
    assert "生效 3 条，已存在未变 0 条，无效 1 条" in imported.output and "第 5 行" in imported.output

    after = _run(tmp_path, db, "b")
    assert (after[warning]["链内排名"], after[copies]["链内排名"]) == ("1", "2")  # the ranking follows the experts
    assert float(after[warning]["综合得分"]) > float(after[copies]["综合得分"])
    # blend (the rubric's default): 0.6 x expert mean + 0.4 x computed
    computed = float(before[warning]["紧迫度"])
    assert float(after[warning]["紧迫度"]) == pytest.approx(round(0.6 * 85 + 0.4 * computed, 1))
    assert "专家评分 85（张三、李四）" in after[warning]["紧迫度依据"]
    assert "专家评分 10（张三）" in after[copies]["紧迫度依据"] and "计算分依据" in after[copies]["紧迫度依据"]
    untouched = next(e for e, r in after.items() if r["拟定标题"].startswith("白酒"))
    assert "专家" not in after[untouched]["紧迫度依据"]
