"""`ningliang decisions import`: staff decisions on draft-list entries (registered in `pipelines.cli`)."""

from pathlib import Path

import click

from .cli_review import _fail, _internal_error
from .errors import NingliangError, UnreadableFileError
from .paths import DEFAULT_DB_URL, REPORTS_DIR


@click.group()
def decisions() -> None:
    """需求清单审核决定：采纳、不采纳、合并、拆分、改标题、撤回需求。"""


@decisions.command("import")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--db", "db_url", help="需求库数据库 URL（默认 sqlite:///data/library.sqlite）")
def import_(files: tuple[Path, ...], db_url: str | None) -> None:
    """导入填好审核意见的需求清单工作簿（draft_list.xlsx）或 CSV；无效行逐行报告且不生效。"""
    from .decision_import import read_decisions
    from .store import Library

    unreadable = 0
    try:
        with Library.open(db_url or DEFAULT_DB_URL) as library:
            for path in files:
                try:
                    rows, problems, undecided = read_decisions(path)
                except UnreadableFileError as exc:
                    click.echo(f"错误：{exc}", err=True)
                    unreadable += 1
                    continue
                report = library.apply_staff_decisions(rows)
                problems = problems + report.problems
                click.echo(
                    f"{path.name}：生效 {len(report.applied)} 条，已存在未变 {report.unchanged} 条，"
                    f"未决定 {undecided} 条，无效 {len(problems)} 条"
                )
                for problem in problems:
                    click.echo(f"  无效：{problem}")
    except NingliangError as exc:
        _fail(str(exc))
    except Exception as exc:
        _internal_error(exc, REPORTS_DIR)
    if unreadable:
        _fail(f"{unreadable} 个文件无法读取，其余文件已处理")
