"""`ningliang review`: the chain-lead review loop (export workbooks, import corrections, arbitration list).

Registered on the main command in `pipelines.cli`. These commands do not use Prefect. Errors reach the user as
one Chinese line (exit 2); an unexpected failure as one line with the traceback in a log file (exit 1).
"""

import sys
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import click

from .errors import NingliangError, UnreadableFileError
from .paths import DEFAULT_DB_URL, REPORTS_DIR

if TYPE_CHECKING:  # the heavy modules are imported when a command runs: `ningliang --help` stays fast
    import pandas as pd

    from .corrections import CorrectionReport
    from .review_import import ReadRows, ReviewFile
    from .taxonomy import Taxonomy

_DB_HELP = "需求库数据库 URL（默认 sqlite:///data/library.sqlite）"
_CONFIG_HELP = "YAML 配置文件（其中 mapping.taxonomy / extra_taxonomies 决定有效的产业链编号）"


class ReviewError(NingliangError):
    """A review command cannot do what was asked (unknown call or chain...)."""


def _fail(message: str, code: int = 2) -> NoReturn:
    click.echo(f"错误：{message}", err=True)
    sys.exit(code)


def _internal_error(exc: BaseException, log_dir: Path) -> NoReturn:
    """Unexpected failure: one Chinese line for the user, the traceback in review-error.log."""
    try:
        log_dir.mkdir(parents=True, exist_ok=True)
        log = log_dir / "review-error.log"
        log.write_text("".join(traceback.format_exception(exc)), encoding="utf-8")
        where = f"详细信息已写入 {log}"
    except OSError:
        where = "（无法写入错误日志）"
    _fail(f"处理中断（{type(exc).__name__}: {str(exc)[:200]}）。{where}", code=1)


def _taxonomy(config_file: Path | None) -> "Taxonomy":
    from .corrections import default_taxonomy
    from .settings import load_config

    return default_taxonomy(load_config(config_file).mapping)


@click.group()
def review() -> None:
    """链长复核：导出复核工作簿、导入确认与更正、查看仲裁清单。"""


# --- export -----------------------------------------------------------------------------------------------
@review.command("export")
@click.option("--call", "call_id", required=True, help="征集批次编号")
@click.option("--chain", "chain_id", help="只导出这一条产业链（如 EC-BATT；NONE 为无对应产业链的需求）")
@click.option("--db", "db_url", help=_DB_HELP)
@click.option("--out", "out_dir", type=click.Path(path_type=Path), help="输出目录（默认 reports/<批次>/review/）")
@click.option("--config", "config_file", type=click.Path(path_type=Path), help=_CONFIG_HELP)
def export(
    call_id: str, chain_id: str | None, db_url: str | None, out_dir: Path | None, config_file: Path | None
) -> None:
    """每位链长一个复核工作簿：review-<批次>-<产业链>.xlsx。"""
    from .review_workbook import chains_of
    from .safe import safe_filename
    from .store import Library

    out = out_dir or REPORTS_DIR / safe_filename(call_id) / "review"
    try:
        taxonomy = _taxonomy(config_file)
        with Library.open(db_url or DEFAULT_DB_URL) as library:
            demands = library.demands(call_id)
        if demands.empty:
            raise ReviewError(f"需求库中没有批次 {call_id} 的需求（请检查 --call 与 --db，或先运行 ningliang run）")
        chains = [_known_chain(chain_id, taxonomy)] if chain_id else chains_of(demands)
        out.mkdir(parents=True, exist_ok=True)
        written = [_export_one(demands, call_id, chain, taxonomy, out) for chain in chains]
    except NingliangError as exc:
        _fail(str(exc))
    except OSError as exc:
        _fail(f"无法写入输出目录 {out}：{exc.strerror or exc}")
    except Exception as exc:
        _internal_error(exc, out)
    click.echo(f"完成：批次 {call_id} 共生成 {sum(written)} 个复核工作簿，位于 {out.resolve()}")


def _known_chain(chain_id: str, taxonomy: "Taxonomy") -> str:
    from . import schema as s

    known = {c.id.upper(): c.id for c in taxonomy.chains} | {s.NONE: s.NONE}
    if chain_id.strip().upper() not in known:
        raise ReviewError(f"未知产业链编号 {chain_id}（可选：{'、'.join(known.values())}）")
    return known[chain_id.strip().upper()]


def _export_one(demands: "pd.DataFrame", call_id: str, chain_id: str, taxonomy: "Taxonomy", out: Path) -> int:
    from .review_workbook import id_name, review_rows, write_review_workbook
    from .safe import safe_filename

    rows = review_rows(demands, chain_id, taxonomy)
    label = f"{chain_id} {id_name(taxonomy.chain_name, chain_id)}"
    if rows.empty:
        click.echo(f"{label}：批次中没有相关需求，未生成工作簿")
        return 0
    path = out / safe_filename(f"review-{call_id}-{chain_id}.xlsx")
    write_review_workbook(rows, call_id, chain_id, taxonomy, path)
    click.echo(f"{label}：{len(rows)} 条需求 → {path.name}")
    return 1


# --- import -----------------------------------------------------------------------------------------------
@review.command("import")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--db", "db_url", help=_DB_HELP)
@click.option("--call", "call_id", help="按原始编号（external_id）对应需求时限定的批次")
@click.option("--config", "config_file", type=click.Path(path_type=Path), help=_CONFIG_HELP)
@click.option("--arbitrate", is_flag=True, help="以仲裁结论导入：裁决此前不一致的更正（每条需求一行）")
def import_(
    files: tuple[Path, ...], db_url: str | None, call_id: str | None, config_file: Path | None, arbitrate: bool
) -> None:
    """导入链长返回的复核工作簿或更正 CSV（demand_id 或 external_id, industry_id, chain_id, reviewer, note）。

    有效行全部导入，无效行逐行列出原因；无法读取文件时退出码为 2。
    """
    from .review_import import external_ids_needed, read_review_file, to_corrections
    from .store import Library

    unreadable: list[str] = []
    readable: list[ReviewFile] = []
    try:
        taxonomy = _taxonomy(config_file)
        for path in files:
            try:
                readable.append(read_review_file(path))
            except UnreadableFileError as exc:
                unreadable.append(str(exc))
        with Library.open(db_url or DEFAULT_DB_URL) as library:
            lookup = library.demands_by_external_id(sorted(external_ids_needed(readable)))
            read = to_corrections(readable, lookup, call_id, arbiter=arbitrate)
            report = library.apply_corrections(read.corrections, taxonomy)
    except NingliangError as exc:
        _fail(str(exc))
    except Exception as exc:
        _internal_error(exc, REPORTS_DIR)
    _print_import(files, readable, read, report, unreadable)
    if unreadable:
        sys.exit(2)


def _print_import(
    files: tuple[Path, ...],
    readable: "list[ReviewFile]",
    read: "ReadRows",
    report: "CorrectionReport",
    unreadable: list[str],
) -> None:
    order = {path.name: i for i, path in enumerate(files)}
    problems = sorted(read.problems + report.problems, key=lambda p: (order.get(p.source_file, 0), p.source_row))
    for problem in problems:
        click.echo(f"未导入：{problem}")
    for message in unreadable:
        click.echo(f"错误：{message}", err=True)
    rows = sum(len(f.rows) for f in readable)
    click.echo(
        f"导入完成：读取 {len(readable)} 个文件 {rows} 行；应用 {report.applied} 条，"
        f"跳过 {report.skipped} 条（与已有结论相同），未填写 {read.blank} 条，"
        f"待仲裁 {report.conflicts} 条，无效 {len(problems)} 条；写入记录 {report.events} 条。"
    )
    if report.disputed:
        click.echo(f"有 {len(set(report.disputed))} 条需求的更正互相矛盾，已列入仲裁清单：ningliang review arbitration")


# --- arbitration ------------------------------------------------------------------------------------------
@review.command("arbitration")
@click.option("--db", "db_url", help=_DB_HELP)
@click.option("--out", "out_file", type=click.Path(path_type=Path), help="另存仲裁清单为 CSV（UTF-8 with BOM）")
def arbitration(db_url: str | None, out_file: Path | None) -> None:
    """列出链长结论不一致、待仲裁的需求（仲裁前需求保持原值）。"""
    from .corrections import ARBITRATION_COLUMNS
    from .report import write_csv
    from .store import Library

    try:
        with Library.open(db_url or DEFAULT_DB_URL) as library:
            frame = library.arbitration()
        if out_file is not None:
            out_file.parent.mkdir(parents=True, exist_ok=True)
            write_csv(frame, ARBITRATION_COLUMNS, out_file)
    except NingliangError as exc:
        _fail(str(exc))
    except OSError as exc:
        _fail(f"无法写入 {out_file}：{exc.strerror or exc}")
    except Exception as exc:
        _internal_error(exc, REPORTS_DIR)
    _print_arbitration(frame)
    if out_file is not None:
        click.echo(f"仲裁清单：{out_file.resolve()}")


def _print_arbitration(frame: "pd.DataFrame") -> None:
    """Per disputed demand: what it keeps meanwhile, then each proposal with reviewer, note, file and time."""
    from . import migrations as m
    from . import schema as s

    if frame.empty:
        click.echo("没有待仲裁的需求。")
        return
    records = frame.fillna("").to_dict("records")
    for demand_id in dict.fromkeys(r[s.DEMAND_ID] for r in records):
        rows = [r for r in records if r[s.DEMAND_ID] == demand_id]
        first = rows[0]
        click.echo(f"{demand_id}（批次 {first[s.CALL_ID]}，原始编号 {first[s.EXTERNAL_ID] or '无'}）{first[s.TITLE]}")
        click.echo(f"    暂保持 {first['current_industry_id']}/{first['current_chain_id']}")
        for r in rows:
            who = r[m.REVIEWER] + ("（仲裁）" if r[m.ROLE] == "arbiter" else "")
            note = f"  备注：{r[m.NOTE]}" if r[m.NOTE] else ""
            where = f"{r[s.SOURCE_FILE]}，{str(r[m.AT])[:16]}"
            click.echo(f"    {who}：{r[s.INDUSTRY_ID]}/{r[s.CHAIN_ID]}{note}（{where}）")
    click.echo(
        f"共 {len(set(frame[s.DEMAND_ID]))} 条需求待仲裁。裁决：相关链长重新提交一致的结论，或由仲裁人把结论"
        "（demand_id, industry_id, chain_id, reviewer, note，每条需求一行）"
        "用 ningliang review import 文件 --arbitrate 导入。"
    )
