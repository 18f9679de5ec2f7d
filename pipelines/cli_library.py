"""`ningliang library`: questions asked of the demand library (registered in `pipelines.cli`).

search / history / open / since print compact Chinese tables; the queries are `pipelines.library_queries`.
"""

import unicodedata
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import click

from .cli_review import _fail, _internal_error
from .errors import NingliangError
from .paths import DEFAULT_DB_URL, REPORTS_DIR

if TYPE_CHECKING:  # pandas is imported when a command runs: `ningliang --help` stays fast
    import pandas as pd

    from .store import Library

_DB_HELP = "需求库数据库 URL（默认 sqlite:///data/library.sqlite）"
_TABLE: tuple[tuple[str, str, int], ...] = (
    ("demand_id", "需求编号", 18), ("call_id", "批次", 12), ("enterprise", "企业", 20), ("title", "需求名称", 36),
    ("chain_id", "产业链", 12), ("status", "状态", 6),
)  # fmt: skip


@click.group()
def library() -> None:
    """需求库查询：检索需求、查看需求历史、产业链未决需求、与上一批次相比的新增/再次提出/已答复。"""


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _cell(value: Any, width: int) -> str:
    text = "" if value is None or value != value else " ".join(str(value).split())  # NaN != NaN
    if _width(text) > width:
        while _width(text) > width - 1:
            text = text[:-1]
        text += "…"
    return text + " " * (width - _width(text))


def _shown(value: Any) -> str:
    return "（空）" if value is None or value != value or value == "" else str(value)


def _table(frame: "pd.DataFrame", columns: Sequence[tuple[str, str, int]], indent: str = "  ") -> None:
    click.echo(indent + " ".join(_cell(label, width) for _, label, width in columns).rstrip())
    for row in frame.to_dict("records"):
        click.echo(indent + " ".join(_cell(row.get(c), width) for c, _, width in columns).rstrip())


def _frame(library: "Library") -> "pd.DataFrame":
    from .library_queries import with_status

    return with_status(library.demands(), library.staff_decisions(), library.runs())


def _run(db_url: str | None, answer: Any) -> None:
    """Open the library, answer, and turn every failure into one Chinese line."""
    from .store import Library

    try:
        with Library.open(db_url or DEFAULT_DB_URL) as lib:
            answer(lib)
    except NingliangError as exc:
        _fail(str(exc))
    except Exception as exc:
        _internal_error(exc, REPORTS_DIR)


@library.command("search")
@click.argument("text")
@click.option("--chain", "chain_id", help="只看这一产业链（编号，如 EC-BATT）")
@click.option("--call", "call_id", help="只看这一征集批次")
@click.option("--db", "db_url", help=_DB_HELP)
def search_(text: str, chain_id: str | None, call_id: str | None, db_url: str | None) -> None:
    """检索需求名称或描述中包含 TEXT 的需求（不区分大小写与全/半角），最新批次在前。"""
    from .library_queries import search

    def answer(lib: "Library") -> None:
        found = search(_frame(lib), text, chain_id, call_id)
        if found.empty:
            click.echo(f"没有找到包含“{text}”的需求。")
            return
        click.echo(f"包含“{text}”的需求 {len(found)} 条（最新批次在前）：")
        _table(found, _TABLE)

    _run(db_url, answer)


@library.command("history")
@click.argument("key", metavar="DEMAND_ID_OR_EXTERNAL_ID")
@click.option("--db", "db_url", help=_DB_HELP)
def history_(key: str, db_url: str | None) -> None:
    """一条需求的历史：需求本身、各批次中与它重复的需求（按提交先后）、以及与它有关的全部决定（按时间）。"""
    from .library_queries import history

    def answer(lib: "Library") -> None:
        found = history(_frame(lib), lib.staff_decisions(), lib.events(), key)
        _print_history(found)

    _run(db_url, answer)


def _print_history(found: Any) -> None:
    from .audit import ACTOR_LABELS, FIELD_LABELS, KIND_LABELS

    d = found.demand
    click.echo(f"需求 {d['demand_id']}（原始编号 {d['external_id'] or '无'}，批次 {d['call_id']}）")
    click.echo(f"  名称：{d['title']}")
    click.echo(f"  企业：{d['enterprise'] or '未填'}  市州：{d['region'] or '未填'}")
    click.echo(f"  产业链：{d['chain_id'] or '未映射'}  清单条目：{d['entry_id']}  状态：{d['status']}")
    click.echo(f"  来源：{d['source_file']} 第 {d['source_row']} 行")
    group = found.group
    calls = "、".join(dict.fromkeys(group["call_id"].astype(str)))
    enterprises = "、".join(dict.fromkeys(e for e in group["enterprise"].fillna("").astype(str) if e)) or "未填"
    if len(group) > 1:
        click.echo(f"重复组 {d['duplicate_group']}：{len(group)} 条，批次 {calls}；企业 {enterprises}（按提交先后）：")
        _table(group.assign(mark=["← 本条" if i == d["demand_id"] else "" for i in group["demand_id"]]),
               (*_TABLE, ("mark", "", 6)))  # fmt: skip
    else:
        click.echo("重复组：无（其他批次没有与它重复的需求）")
    labels = {**KIND_LABELS, "expert_score": "专家评分"}
    ev = found.events
    events = ev.assign(
        kind=ev["kind"].map(lambda k: labels.get(k, k)),
        actor=ev["actor"].map(lambda a: ACTOR_LABELS.get(a, a)),
        field=ev["field"].map(lambda f: FIELD_LABELS.get(f, f)),
        change=[f"{_shown(o)} → {_shown(n)}" for o, n in zip(ev["old_value"], ev["new_value"], strict=True)],
        at=ev["at"].astype(str).str[:19].str.replace("T", " "),
    )
    click.echo(f"决定记录 {len(events)} 条（按时间）：")
    columns = (("at", "时间（UTC）", 19), ("kind", "类型", 20), ("actor", "执行者", 12), ("field", "字段", 10))
    _table(events, (*columns, ("change", "变化", 34), ("evidence", "依据", 40)))


@library.command("open")
@click.option("--chain", "chain_id", required=True, help="产业链编号，如 EC-BATT")
@click.option("--db", "db_url", help=_DB_HELP)
def open_(chain_id: str, db_url: str | None) -> None:
    """一条产业链的未决需求（未被撤回、不在不采纳的条目中），按清单条目分组。"""
    from .library_queries import open_demands

    def answer(lib: "Library") -> None:
        found = open_demands(_frame(lib), chain_id)
        entries = found.groupby("entry_id", sort=False)
        click.echo(f"产业链 {chain_id} 的未决需求 {len(found)} 条，分属 {entries.ngroups} 个清单条目：")
        for entry, rows in entries:
            click.echo(f"条目 {entry}（{len(rows)} 条）")
            _table(rows, _TABLE, indent="    ")

    _run(db_url, answer)


@library.command("since")
@click.option("--call", "call_id", help="征集批次（默认最近一个批次）")
@click.option("--db", "db_url", help=_DB_HELP)
def since_(call_id: str | None, db_url: str | None) -> None:
    """与上一批次相比：新增需求（往期没有重复）、往期再次提出的需求（其重复组含往期批次的需求）、
    已答复的往期需求。“已答复”指自上一批次开始处理以来被工作人员撤回，或所在清单条目被工作人员采纳的往期需求。"""
    from .library_queries import EARLIER_CALLS, since

    def answer(lib: "Library") -> None:
        found = since(_frame(lib), lib.runs(), call_id)
        before = f"上一批次 {found.previous}" if found.previous else "此前没有批次"
        click.echo(
            f"批次 {found.call_id}（{before}）：新增 {len(found.new)} 条，往期再次提出 {len(found.recurring)} 条，"
            f"往期需求已答复 {len(found.answered)} 条"
        )
        click.echo(f"新增需求 {len(found.new)} 条：")
        _table(found.new, _TABLE)
        click.echo(f"往期再次提出 {len(found.recurring)} 条：")
        _table(found.recurring, (*_TABLE, (EARLIER_CALLS, "往期批次", 16), ("first_earlier", "最早提出", 18)))
        click.echo(f"已答复的往期需求 {len(found.answered)} 条（撤回，或所在条目被采纳）：")
        _table(found.answered.assign(decided_at=found.answered["decided_at"].astype(str).str[:10]),
               (*_TABLE, ("decided_at", "决定日期", 10)))  # fmt: skip

    _run(db_url, answer)
