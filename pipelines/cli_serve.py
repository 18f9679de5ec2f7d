"""`ningliang serve`: scheduled and inbox-triggered runs of consolidate-call, served to a Prefect server."""

import os
import sys
from pathlib import Path

import click

from .errors import NingliangError


@click.command()
@click.option(
    "--inbox",
    "inbox",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="收件目录：每个批次一个子文件夹，放入 .xlsx / .csv / .jsonl 需求文件",
)
@click.option(
    "--call-prefix", "call_prefix", default="", show_default=True, help="批次编号前缀（批次编号 = 前缀 + 子文件夹名）"
)
@click.option("--cron", default="0 2 * * *", show_default=True, help='定时运行（cron，"" 不定时）')
@click.option("--timezone", default="Asia/Shanghai", show_default=True, help="cron 的时区")
@click.option(
    "--poll-seconds",
    type=click.FloatRange(min=0),
    default=60,
    show_default=True,
    help="每隔多少秒检查收件目录中的新文件；0 表示不检查",
)
@click.option(
    "--settle-seconds",
    type=click.FloatRange(min=0),
    default=5,
    show_default=True,
    help="文件大小与时间须保持不变的秒数（仍在复制的文件留待下次）",
)
@click.option("--db", "db_url", help="需求库数据库 URL（默认 sqlite:///data/library.sqlite）")
@click.option("--config", "config_file", type=click.Path(dir_okay=False, path_type=Path), help="YAML 配置文件")
@click.option("--out-root", type=click.Path(file_okay=False, path_type=Path), help="输出根目录（默认 reports/）")
def serve(
    inbox: Path,
    call_prefix: str,
    cron: str,
    timezone: str,
    poll_seconds: float,
    settle_seconds: float,
    db_url: str | None,
    config_file: Path | None,
    out_root: Path | None,
) -> None:
    """按计划与收件目录自动运行汇总流程（Prefect 部署，需先启动 Prefect 服务器并设置 PREFECT_API_URL）。

    \b
    收件目录结构：INBOX/<批次文件夹>/*.xlsx|*.csv|*.jsonl
    - 定时运行（--cron）：汇总每个有文件的批次；
    - 收件检查（--poll-seconds）：某批次文件夹出现比其上次运行更新的文件、且文件已写完时，运行该批次。
    """
    from .paths import DEFAULT_DB_URL, REPORTS_DIR
    from .settings import load_config

    if not cron and not poll_seconds:
        _fail("--cron 与 --poll-seconds 不能同时关闭：没有任何触发方式")
    if not os.environ.get("PREFECT_API_URL"):
        _fail(
            "未设置 PREFECT_API_URL。定时与收件触发需要常驻的 Prefect 服务器：先运行 `prefect server start`，"
            "再设置 PREFECT_API_URL=http://127.0.0.1:4200/api（见 README“定时与收件触发”）"
        )
    try:
        load_config(config_file)  # a bad config is refused now, not at the first scheduled run
        from .flows import inbox_deployments, serve_inbox

        deployments = inbox_deployments(
            str(inbox.resolve()),
            call_prefix,
            db_url or DEFAULT_DB_URL,
            str(config_file.resolve()) if config_file else None,
            str((out_root or REPORTS_DIR).resolve()),
            cron or None,
            poll_seconds or None,
            settle_seconds,
            timezone,
        )
    except NingliangError as exc:
        _fail(str(exc))
    triggers = [f"定时 {cron}" if cron else "", f"每 {poll_seconds:g} 秒检查收件目录" if poll_seconds else ""]
    click.echo(f"开始服务：{inbox.resolve()}（{'，'.join(t for t in triggers if t)}）。按 Ctrl+C 停止。", err=True)
    serve_inbox(deployments)


def _fail(message: str) -> None:
    click.echo(f"错误：{message}", err=True)
    sys.exit(2)
