"""`ningliang decisions import`: staff decisions on draft-list entries (registered in `pipelines.cli`)."""

from pathlib import Path
from typing import TYPE_CHECKING

import click

from .cli_imports import import_files

if TYPE_CHECKING:
    from .corrections import Problem
    from .store import Library


@click.group()
def decisions() -> None:
    """需求清单审核决定：采纳、不采纳、合并、拆分、改标题、撤回需求。"""


@decisions.command("import")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--db", "db_url", help="需求库数据库 URL（默认 sqlite:///data/library.sqlite）")
def import_(files: tuple[Path, ...], db_url: str | None) -> None:
    """导入填好审核意见的需求清单工作簿（draft_list.xlsx）或 CSV；无效行逐行报告且不生效。"""
    from .decision_import import read_decisions

    def import_one(library: "Library", path: Path) -> tuple[str, list["Problem"]]:
        rows, problems, undecided = read_decisions(path)
        report = library.apply_staff_decisions(rows)
        problems = problems + report.problems
        counts = f"生效 {len(report.applied)} 条，已存在未变 {report.unchanged} 条，未决定 {undecided} 条"
        return f"{counts}，无效 {len(problems)} 条", problems

    import_files(files, db_url, import_one)
