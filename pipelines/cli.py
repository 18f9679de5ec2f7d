"""The `ningliang` command. Prefect is quieted before it is imported; no traceback ever reaches the user."""

import os
import shutil
import sys
import traceback
from pathlib import Path

import click

from .errors import NingliangError

RESUME_FOLDER = ".resume"  # in the output folder: the finished stages of an interrupted `ningliang run`

_QUIET_PREFECT = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_LOGGING_TO_API_ENABLED": "false",
    "PREFECT_LOGGING_LEVEL": "WARNING",
    "PREFECT_SERVER_LOGGING_LEVEL": "WARNING",
    # a failing stage is reported by the CLI in one line (traceback in error.log), not by Prefect's console logger
    "PREFECT_LOGGING_LOGGERS_PREFECT_FLOW_RUNS_LEVEL": "CRITICAL",
    "PREFECT_LOGGING_LOGGERS_PREFECT_TASK_RUNS_LEVEL": "CRITICAL",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "DASK_DISTRIBUTED__LOGGING__DISTRIBUTED": "warning",  # `run --dask`: no line per worker started or stopped
}


def _quiet_environment() -> None:
    for key, value in _QUIET_PREFECT.items():
        os.environ.setdefault(key, value)


def _fail(message: str, code: int = 2) -> None:
    click.echo(f"错误：{message}", err=True)
    sys.exit(code)


def _internal_error(exc: BaseException, log_dir: Path) -> None:
    """Unexpected failure: one Chinese line for the user, the traceback in a log file for developers."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / "error.log"
    log.write_text("".join(traceback.format_exception(exc)), encoding="utf-8")
    _fail(f"处理中断（{type(exc).__name__}: {str(exc)[:200]}）。详细信息已写入 {log}", code=1)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="ningliang")
def main() -> None:
    """凝练（ningliang）：企业技术需求梳理汇总、查重、产业链映射与需求清单生成。"""
    _quiet_environment()


@main.command()
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--call", "call_id", required=True, help="征集批次编号，如 2026-spring")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), help="输出目录（默认 reports/<批次>/）")
@click.option("--db", "db_url", help="需求库数据库 URL（默认 sqlite:///data/library.sqlite）")
@click.option("--config", "config_file", type=click.Path(path_type=Path), help="YAML 配置文件")
@click.option("--quiet", is_flag=True, help="不显示分阶段进度")
@click.option(
    "--share", is_flag=True, help="输出用于对外流转：联系人、电话、邮箱、身份证号一律脱敏（需求库仍保留原值）"
)
@click.option(
    "--no-resume",
    is_flag=True,
    help="不保留已完成的阶段（默认保留在 <输出目录>/.resume，运行中断后以相同输入重新运行即从中断处继续，成功后删除）",
)
@click.option(
    "--dask",
    "dask_address",
    metavar="ADDRESS",
    help="分词、句向量与产业映射按行分区在 Dask 集群上运行：调度器地址（如 tcp://10.0.0.5:8786），或 local（本机临时"
    "集群）；覆盖配置项 runner.dask_address，结果与不用 Dask 时相同",
)
def run(
    inputs: tuple[Path, ...],
    call_id: str,
    out_dir: Path | None,
    db_url: str | None,
    config_file: Path | None,
    quiet: bool,
    share: bool,
    no_resume: bool,
    dask_address: str | None,
) -> None:
    """汇总一个批次的需求文件（.xlsx / .csv / .jsonl，可多个），生成需求清单与审阅报告。

    运行中断（断电、终止）后，以相同的输入重新运行同一命令，已完成的阶段从 <输出目录>/.resume 载入而不重新计算。"""
    from .paths import DEFAULT_DB_URL, REPORTS_DIR
    from .safe import safe_filename
    from .settings import load_config

    out = out_dir or REPORTS_DIR / safe_filename(call_id)
    resume = None if no_resume else out / RESUME_FOLDER
    try:
        config = load_config(config_file)
        if dask_address is not None:
            runner = config.runner.model_copy(update={"dask_address": dask_address})
            config = config.model_copy(update={"runner": runner})
        from .flows import consolidate_call_on

        summary = consolidate_call_on(config.runner)(
            list(inputs), call_id, out, db_url or DEFAULT_DB_URL, config, echo=not quiet, share=share, resume_dir=resume
        )
    except NingliangError as exc:
        _fail(str(exc))
    except Exception as exc:
        _internal_error(exc, out)
    if resume is not None:  # the run wrote to the library: no stage kept here can be loaded again
        shutil.rmtree(resume, ignore_errors=True)
    for name in summary.unreadable_files:
        click.echo(f"警告：文件 {name} 无法读取，详见 report.html 与 manifest.json", err=True)
    click.echo(
        f"完成：接收 {summary.accepted} 条，隔离 {summary.quarantined} 条，重复组 {summary.duplicate_groups} 个，"
        f"聚类 {summary.clusters} 个，待复核 {summary.needs_review} 条。"
    )
    click.echo(f"输出目录：{summary.out_dir.resolve()}")
    click.echo(f"审阅报告：{summary.outputs['report.html'].resolve()}")
    click.echo(f"需求清单：{summary.outputs['draft_list.xlsx'].resolve()}")
    if summary.needs_review:
        click.echo(f"待复核 {summary.needs_review} 条：见审阅报告的“待复核”一节（demands.csv 的 needs_review 列）。")


@main.command()
@click.option("--n", "n", type=click.IntRange(1, 2_000_000), default=360, show_default=True, help="需求条数")
@click.option("--seed", type=int, default=2026, show_default=True, help="随机种子")
@click.option("--out", "out", type=click.Path(path_type=Path), required=True, help="输出文件（.xlsx 或 .csv）")
def sample(n: int, seed: int, out: Path) -> None:
    """生成一个模拟征集批次（含植入的重复、改写重发、跨链与六大产业之外的需求）及其标准答案。"""
    from .sample import generate_call, write_call

    try:
        call, truth = generate_call(n, seed)
        truth_path = write_call(call, truth, out)
    except (ValueError, OSError) as exc:
        _fail(str(exc))
    click.echo(f"已生成 {n} 条需求：{out}（标准答案：{truth_path}）")


@main.command()
@click.option("--db", "db_url", help="需求库数据库 URL（默认 sqlite:///data/library.sqlite）")
@click.option("--config", "config_file", type=click.Path(path_type=Path), help="YAML 配置文件（含分类文件路径）")
@click.option("--call", "call_id", help="只重新映射这一批次（默认全部）")
@click.option("--quiet", is_flag=True, help="不显示分阶段进度")
def remap(db_url: str | None, config_file: Path | None, call_id: str | None, quiet: bool) -> None:
    """分类体系（产业链）修改后，按当前分类文件重新映射需求库中的需求；人工更正保持不变。"""
    from .paths import DEFAULT_DB_URL, REPORTS_DIR
    from .settings import load_config

    try:
        config = load_config(config_file)
        from .flows import remap_library

        summary = remap_library(db_url or DEFAULT_DB_URL, config, call_id, echo=not quiet)
    except NingliangError as exc:
        _fail(str(exc))
    except Exception as exc:
        _internal_error(exc, REPORTS_DIR)
    click.echo(
        f"完成：重新映射 {summary.remapped} 条（分类版本 {summary.taxonomy_version}，映射器 {summary.mapper}），"
        f"变化 {summary.changed} 条，人工更正保持 {summary.kept_human} 条。"
    )
    for call, run_id in summary.runs.items():
        click.echo(f"批次 {call}：运行记录 {run_id}")


@main.command()
@click.option("--out", "out", type=click.Path(path_type=Path), required=True, help="输出文件（.xlsx）")
@click.option("--config", "config_file", type=click.Path(path_type=Path), help="YAML 配置文件（含分类文件路径）")
def template(out: Path, config_file: Path | None) -> None:
    """生成空白的需求征集表（含市州、产业、产业链、合作方式下拉选项与填表说明），用于下一批次征集。"""
    from .settings import load_config
    from .taxonomy import load_taxonomy
    from .template import write_template

    if out.suffix.lower() != ".xlsx":
        _fail(f"输出文件应以 .xlsx 结尾：{out}")
    try:
        config = load_config(config_file)
        write_template(out, load_taxonomy(config.mapping.taxonomy, config.mapping.extra_taxonomies))
    except NingliangError as exc:
        _fail(str(exc))
    except OSError as exc:
        _fail(f"无法写入 {out}：{exc.strerror or exc}")
    click.echo(f"已生成空白需求征集表：{out}")


from .cli_review import review  # noqa: E402  (registered last: cli_review needs nothing from this module)

main.add_command(review)

from .cli_audit import audit  # noqa: E402

main.add_command(audit)

from .cli_decisions import decisions  # noqa: E402

main.add_command(decisions)

from .cli_scores import scores  # noqa: E402

main.add_command(scores)

from .cli_library import library  # noqa: E402

main.add_command(library)

from .cli_erase import erase  # noqa: E402

main.add_command(erase)

from .cli_serve import serve  # noqa: E402

main.add_command(serve)
