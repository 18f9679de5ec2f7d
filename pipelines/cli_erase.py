"""`ningliang erase`: a person's request to erase their data from the library (registered in `pipelines.cli`)."""

import click

from .cli_review import _fail, _internal_error
from .errors import NingliangError
from .paths import DEFAULT_DB_URL, REPORTS_DIR


@click.command()
@click.option("--name", default="", help="姓名（联系人）")
@click.option("--contact", "contacts", multiple=True, help="电话或邮箱，可多次给出")
@click.option("--by", required=True, help="执行删除的工作人员")
@click.option("--reason", default="", help="依据，如申请编号")
@click.option("--db", "db_url", help="需求库数据库 URL（默认 sqlite:///data/library.sqlite）")
def erase(name: str, contacts: tuple[str, ...], by: str, reason: str, db_url: str | None) -> None:
    """应本人要求，从需求库中删除其个人信息（姓名、电话、邮箱），并记录删除事件（不记录被删内容本身）。"""
    from .store import Library

    if len(name.strip()) < 2 and not any(len(c.strip()) >= 2 for c in contacts):
        _fail("请至少给出 --name 或 --contact（两个字符以上）")
    try:
        with Library.open(db_url or DEFAULT_DB_URL) as library:
            report = library.erase_person(name, contacts, by, reason)
    except NingliangError as exc:
        _fail(str(exc))
    except Exception as exc:
        _internal_error(exc, REPORTS_DIR)
    click.echo(
        f"已删除：需求 {report.demands} 条、隔离记录 {report.quarantined_rows} 行中的个人信息；"
        f"删除事件已记录（指纹 {report.fingerprint}）。已导出的报告文件请另行处理。"
    )
