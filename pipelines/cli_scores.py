"""`ningliang scores import`: expert panel scores of draft-list entries (registered in `pipelines.cli`)."""

from pathlib import Path
from typing import TYPE_CHECKING

import click

from .cli_imports import import_files

if TYPE_CHECKING:
    from .corrections import Problem
    from .store import Library


@click.group()
def scores() -> None:
    """专家评分：导入专家组对需求清单条目的紧迫度、解决难易度、市场推广评分。"""


@scores.command("import")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--db", "db_url", help="需求库数据库 URL（默认 sqlite:///data/library.sqlite）")
def import_(files: tuple[Path, ...], db_url: str | None) -> None:
    """导入专家评分表（.xlsx 或 .csv；列：条目编号、紧迫度、解决难易度、市场推广、专家姓名，分值 0-100）。

    评分存入需求库，下一次运行按评分规则文件（expert.mode）替换或融合计算分，排名随之更新。
    同一专家对同一条目再次导入相同评分不产生变化，不同评分替换原评分；无效行逐行报告且不生效。
    """
    from .expert_scores import read_expert_scores

    def import_one(library: "Library", path: Path) -> tuple[str, list["Problem"]]:
        rows, problems = read_expert_scores(path)
        report = library.store_expert_scores(rows)
        problems = sorted([*problems, *report.problems], key=lambda p: p.source_row)
        return f"生效 {report.stored} 条，已存在未变 {report.unchanged} 条，无效 {len(problems)} 条", problems

    import_files(files, db_url, import_one)
