"""The shared loop of the `… import FILE...` commands: each file read and applied on its own, a summary line and
its invalid rows printed per file, unreadable files reported while the others are still applied (exit 2 then)."""

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

from .cli_review import _fail, _internal_error
from .errors import NingliangError, UnreadableFileError
from .paths import DEFAULT_DB_URL, REPORTS_DIR

if TYPE_CHECKING:
    from .corrections import Problem
    from .store import Library

# (library, file) -> (summary after the file name, invalid rows); raises UnreadableFileError for a whole-file problem
ImportOne = Callable[["Library", Path], tuple[str, Sequence["Problem"]]]


def import_files(files: Sequence[Path], db_url: str | None, import_one: ImportOne) -> None:
    from .store import Library

    unreadable = 0
    try:
        with Library.open(db_url or DEFAULT_DB_URL) as library:
            for path in files:
                try:
                    summary, problems = import_one(library, path)
                except UnreadableFileError as exc:
                    click.echo(f"错误：{exc}", err=True)
                    unreadable += 1
                    continue
                click.echo(f"{path.name}：{summary}")
                for problem in problems:
                    click.echo(f"  无效：{problem}")
    except NingliangError as exc:
        _fail(str(exc))
    except Exception as exc:
        _internal_error(exc, REPORTS_DIR)
    if unreadable:
        _fail(f"{unreadable} 个文件无法读取，其余文件已处理")
