"""`ningliang audit`: the supervision office's audit workbook of one call (registered in `pipelines.cli`)."""

from pathlib import Path

import click

from .cli_review import _fail, _internal_error
from .errors import NingliangError
from .paths import DEFAULT_DB_URL, REPORTS_DIR


@click.group()
def audit() -> None:
    """审计留痕：导出一个批次的全部自动与人工决定（谁、何时、改了什么、依据）。"""


@audit.command("export")
@click.option("--call", "call_id", required=True, help="征集批次编号")
@click.option("--db", "db_url", help="需求库数据库 URL（默认 sqlite:///data/library.sqlite）")
@click.option("--out", "out", type=click.Path(path_type=Path), help="输出文件（默认 reports/<批次>/audit-<批次>.xlsx）")
def export(call_id: str, db_url: str | None, out: Path | None) -> None:
    """导出审计工作簿：决定记录、运行记录、人工判定、全库事件四张表。"""
    from .audit import audit_frames, write_audit
    from .safe import safe_filename
    from .store import Library

    folder = REPORTS_DIR / safe_filename(call_id)
    path = out or folder / f"audit-{safe_filename(call_id)}.xlsx"
    try:
        with Library.open(db_url or DEFAULT_DB_URL) as library:
            frames = audit_frames(library, call_id)
        write_audit(frames, path)
    except LookupError:
        _fail(f"需求库中没有批次“{call_id}”")
    except NingliangError as exc:
        _fail(str(exc))
    except Exception as exc:
        _internal_error(exc, path.parent)
    events = len(frames["决定记录"])
    click.echo(f"已导出审计工作簿：{path.resolve()}（决定 {events} 条，运行 {len(frames['运行记录'])} 次）")
