"""The report page's data: plain lists and dicts for `templates/report.html.j2`, built from a `ReportBundle`.

Overview counts and charts (by industry, chain and 市州, duplicates counted once, review queue), draft entries per
chain ranked by score with their evidence, key sentences and members, the filter's index, duplicate groups, the
review queue, clusters under their upper groups, quarantine. Long lists are capped, counts never are. Pure functions.
"""

import numbers
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from . import schema as s
from .demand_list import main_content, representative, source_label, split_member_ids
from .safe import is_missing
from .workbook import DUPLICATE_KIND_LABELS, industry_of, industry_rank

if TYPE_CHECKING:
    from .report import ReportBundle

FILE_ROWS_READ = s.FILES_COLUMNS[2]
MAX_CHART_BARS = 20  # bars per overview chart; the rest are summed into one "其他" bar
MAX_MEMBERS = 50  # members listed per duplicate group / cluster in the HTML report
MAX_GROUPS = 300  # duplicate groups listed in the HTML report
MAX_TABLE_ROWS = 500  # rows of the review queue and quarantine tables in the HTML report
_REVIEW_COLUMNS = (s.DEMAND_ID, s.TITLE, s.ENTERPRISE, s.INDUSTRY, s.CHAIN, s.CONFIDENCE, s.REVIEW_REASON, s.EVIDENCE)
_GROUP_MEMBER_COLUMNS = (s.DEMAND_ID, s.TITLE, s.ENTERPRISE, s.DUPLICATE_OF, s.DUPLICATE_SCORE, s.DUPLICATE_REASON)


def overview(bundle: "ReportBundle") -> list[tuple[str, int]]:
    """(Chinese label, count) pairs shown at the top of the report and in the workbook's 说明 sheet."""
    demands, grouped = bundle.demands, _nonblank(bundle.demands[s.DUPLICATE_GROUP])
    rows_read = pd.to_numeric(bundle.files[FILE_ROWS_READ], errors="coerce").fillna(0).sum()
    return [
        ("文件数", len(bundle.files)),
        ("读取行数", int(rows_read)),
        ("接收需求", len(demands)),
        ("隔离记录", len(bundle.quarantine)),
        ("重复组数", int(grouped.nunique())),
        ("重复组涉及需求", len(grouped)),
        ("聚类数", len(bundle.clusters)),
        ("待复核需求", int(_review_mask(demands).sum())),
        ("草案条目数", len(bundle.drafts)),
    ]


def html_context(bundle: "ReportBundle") -> dict[str, Any]:
    """Plain lists and dicts for the template; long lists are capped, counts never are."""
    d = bundle.demands
    groups = _duplicate_groups(d)
    review = d[_review_mask(d)].sort_values(s.CONFIDENCE, na_position="first", kind="stable")
    return {
        "call_id": bundle.call_id,
        "cards": overview(bundle),
        "files": _records(bundle.files, s.FILES_COLUMNS),
        "distribution": _distribution(d),
        "groups": groups[:MAX_GROUPS],
        "groups_hidden": max(len(groups) - MAX_GROUPS, 0),
        "review": _records(review.head(MAX_TABLE_ROWS), _REVIEW_COLUMNS),
        "review_hidden": max(len(review) - MAX_TABLE_ROWS, 0),
        "chains": _cluster_chains(bundle.clusters, d),
        "charts": _charts(d),
        **_entry_view(bundle.drafts, d),
        "quarantine": _records(bundle.quarantine.head(MAX_TABLE_ROWS), s.QUARANTINE_EXPORT_COLUMNS),
        "quarantine_hidden": max(len(bundle.quarantine) - MAX_TABLE_ROWS, 0),
        "run_info": [(k, _text(v)) for k, v in sorted(bundle.manifest.items()) if isinstance(v, str | int | float)],
    }


def _distribution(d: pd.DataFrame) -> list[dict[str, Any]]:
    """Per industry (usual order) and chain (largest first): demand count, share of all, review count."""
    frame = d.assign(
        _industry=[industry_of(i, j) for i, j in zip(d[s.INDUSTRY], d[s.INDUSTRY_ID], strict=True)],
        _chain=d[s.CHAIN].map(lambda v: _text(v) or "（未对应产业链）"),
        _review=_review_mask(d),
    )
    blocks = []
    for industry in sorted(frame["_industry"].unique(), key=industry_rank):
        part = frame[frame["_industry"] == industry]
        chains = part.groupby("_chain").agg(count=("_review", "size"), review=("_review", "sum"))
        rows = [
            {"chain": chain, "count": int(r["count"]), "review": int(r["review"]), "share": _share(r["count"], d)}
            for chain, r in chains.sort_values("count", ascending=False, kind="stable").iterrows()
        ]
        total = {"count": len(part), "review": int(part["_review"].sum()), "share": _share(len(part), d)}
        blocks.append({"industry": industry, **total, "chains": rows})
    return blocks


def _duplicate_groups(d: pd.DataFrame) -> list[dict[str, Any]]:
    """Duplicate groups, largest first: representative title, count, kinds, members (representative first)."""
    by_group: dict[str, list[dict[str, Any]]] = {}
    columns = (s.DUPLICATE_GROUP, s.DUPLICATE_KIND, *_GROUP_MEMBER_COLUMNS)
    for member in _records(d[_nonblank_mask(d[s.DUPLICATE_GROUP])], columns):
        by_group.setdefault(str(member[s.DUPLICATE_GROUP]), []).append(member)
    groups = []
    for group_id, members in sorted(by_group.items()):
        members.sort(key=lambda m: (m[s.DUPLICATE_OF] != "", -_num(m[s.DUPLICATE_SCORE])))
        kinds = {DUPLICATE_KIND_LABELS.get(k, k) for k in (m[s.DUPLICATE_KIND] for m in members) if k != ""}
        groups.append(
            {
                "id": group_id,
                "title": _text(members[0][s.TITLE]),
                "count": len(members),
                "kinds": "、".join(sorted(kinds)),
                "members": members[:MAX_MEMBERS],
                "hidden": max(len(members) - MAX_MEMBERS, 0),
            }
        )
    return sorted(groups, key=lambda g: -g["count"])


_ENTRY_KIND_LABELS = {"cluster": "聚类", "duplicate_group": "重复组", "single": "单条"}
_DIMENSIONS = (("score_urgency", "紧迫度"), ("score_difficulty", "解决难易度"), ("score_market", "市场推广"))
_ENTRY_COLUMNS = (
    *s.DRAFT_COLUMNS, "score_total", "score_total_evidence", "score_rank", "score_source", "score_experts",
    *(c for dim, _ in _DIMENSIONS for c in (dim, f"{dim}_evidence")), "entry_status", "staff_note",
)  # fmt: skip
_MEMBER_COLUMNS = (
    s.DEMAND_ID, s.EXTERNAL_ID, s.TITLE, s.TEXT, s.ENTERPRISE, s.REGION, s.FUNDING, s.NEEDS_REVIEW, s.REVIEW_REASON,
    s.DUPLICATE_GROUP, s.DUPLICATE_OF, s.RECURRING, s.FIRST_CALL, s.CORE_TEXT, s.SOURCE_FILE, s.SOURCE_ROW,
)  # fmt: skip


def _charts(d: pd.DataFrame) -> dict[str, Any]:
    """Overview bar charts: demands by industry, chain and region (each bar also counting duplicates once), and
    the review queue's share."""
    distinct = ~_nonblank_mask(d[s.DUPLICATE_OF]) if s.DUPLICATE_OF in d.columns else pd.Series(True, index=d.index)
    industry = pd.Series([industry_of(i, j) for i, j in zip(d[s.INDUSTRY], d[s.INDUSTRY_ID], strict=True)], d.index)
    chain = d[s.CHAIN].map(lambda v: _text(v) or "（未对应产业链）")
    region = d[s.REGION].map(lambda v: _text(v).strip() or "（未填写）") if s.REGION in d.columns else chain.map(str)
    review = int(_review_mask(d).sum())
    return {
        "industry": _bars(industry, distinct, order=lambda name: industry_rank(name)),
        "chain": _bars(chain, distinct),
        "region": _bars(region, distinct),
        "total": len(d),
        "distinct": int(distinct.sum()),
        "review": review,
        "review_share": _share(review, d),
    }


def _bars(labels: pd.Series, distinct: pd.Series, order: Callable[[str], Any] | None = None) -> list[dict[str, Any]]:
    """One bar per label (largest first, or `order`), capped at MAX_CHART_BARS with the rest summed as 其他."""
    frame = pd.DataFrame({"label": labels.astype(str), "distinct": distinct.astype(bool)})
    counts = frame.groupby("label", sort=False).agg(count=("distinct", "size"), distinct=("distinct", "sum"))
    rows = [(str(k), int(r["count"]), int(r["distinct"])) for k, r in counts.iterrows()]
    rows.sort(key=(lambda r: order(r[0])) if order else (lambda r: (-r[1], r[0])))
    if len(rows) > MAX_CHART_BARS:
        rest = rows[MAX_CHART_BARS - 1 :]
        rows = [
            *rows[: MAX_CHART_BARS - 1],
            (f"其他（{len(rest)} 项）", sum(r[1] for r in rest), sum(r[2] for r in rest)),
        ]
    peak = max((r[1] for r in rows), default=0) or 1
    return [
        {"label": label, "count": count, "distinct": dist, "width": round(100.0 * count / peak, 1),
         "distinct_width": round(100.0 * dist / peak, 1)}
        for label, count, dist in rows
    ]  # fmt: skip


def _entry_view(drafts: pd.DataFrame, d: pd.DataFrame) -> dict[str, Any]:
    """Draft entries per chain ranked by score, each with its evidence, key sentences and members; the filter's
    index (one item per shown entry, in page order) and the choices of the industry and chain filters."""
    members_of = {str(r[s.DEMAND_ID]): r for r in _records(d, _MEMBER_COLUMNS)}
    blocks: list[dict[str, Any]] = []
    index: list[dict[str, Any]] = []
    for (industry_key, chain_key), part in drafts.groupby([s.INDUSTRY, s.CHAIN], sort=False, dropna=False):
        if "score_rank" in part.columns:
            rank = pd.to_numeric(part["score_rank"], errors="coerce").fillna(float("inf"))
            part = part.assign(_rank=rank).sort_values("_rank", kind="stable")
        rows = _records(part.head(MAX_TABLE_ROWS), _ENTRY_COLUMNS)
        blocks.append(
            {
                "industry": industry_of(industry_key, rows[0][s.INDUSTRY_ID] if rows else ""),
                "chain": _text(chain_key) or "（未对应产业链）",
                "chain_id": _text(rows[0][s.CHAIN_ID]) if rows else "",
                "entries": rows,
                "hidden": max(len(part) - MAX_TABLE_ROWS, 0),
            }
        )
    blocks.sort(key=lambda b: (industry_rank(str(b["industry"])), str(b["chain_id"]), str(b["chain"])))
    chains = [f"{b['industry']} · {b['chain']}" for b in blocks]
    for chain_index, block in enumerate(blocks):
        block["index"] = chain_index
        for row in block["entries"]:
            ids = split_member_ids(row["member_ids"])
            members = [members_of[i] for i in ids if i in members_of]
            rep = representative(members)
            row["idx"] = len(index)
            row["kind"] = _ENTRY_KIND_LABELS.get(str(row["entry_kind"]), str(row["entry_kind"]))
            row["content"] = main_content(ids, members_of) if rep else ""
            row["members"] = [{**m, "source": source_label(m)} for m in members[:MAX_MEMBERS]]
            row["members_hidden"] = max(len(ids) - MAX_MEMBERS, 0)
            row["dimensions"] = [(label, row[c], row[f"{c}_evidence"]) for c, label in _DIMENSIONS]
            flagged = sum(m[s.NEEDS_REVIEW] == "是" for m in members)
            row["review_count"] = int(max(_num(row["needs_review_count"]), flagged))
            row["review"] = row["review_count"] > 0
            words = [row["draft_title"], row["label"], row[s.CLUSTER_GROUP_LABEL], row["enterprises"], row["regions"]]
            words += [row[s.ENTRY_ID], row["entry_status"], row["content"]]
            words += [m[c] for m in row["members"] for c in (s.DEMAND_ID, s.EXTERNAL_ID, s.TITLE, s.ENTERPRISE)]
            index.append(
                {
                    "i": row["idx"],
                    "industry": block["industry"],
                    "chain": chain_index,
                    "review": row["review"],
                    "text": " ".join(_text(w) for w in words if _text(w)).lower(),
                }
            )
    industries = sorted({str(b["industry"]) for b in blocks}, key=industry_rank)
    return {"entry_blocks": blocks, "entry_total": len(index), "filter_index": index,
            "filter_industries": industries, "filter_chains": chains}  # fmt: skip


def _cluster_chains(clusters: pd.DataFrame, d: pd.DataFrame) -> list[dict[str, Any]]:
    """Clusters grouped by chain (industry order, then chain id), each with its first members' titles."""
    lookup = dict(zip(d[s.DEMAND_ID], zip(d[s.TITLE], d[s.ENTERPRISE], strict=True), strict=True))
    names = dict(zip(d[s.INDUSTRY_ID], d[s.INDUSTRY], strict=True))
    chains: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for row in _records(clusters, s.CLUSTERS_EXPORT_COLUMNS):
        ids = [i for i in str(row["member_ids"]).split(";") if i]
        row["members"] = [
            {
                "id": i,
                "title": _text(lookup.get(i, ("", ""))[0]),
                "enterprise": _text(lookup.get(i, ("", ""))[1]),
            }
            for i in ids[:MAX_MEMBERS]
        ]
        row["hidden"] = max(len(ids) - MAX_MEMBERS, 0)
        industry = industry_of(names.get(row[s.INDUSTRY_ID], row[s.INDUSTRY_ID]), row[s.INDUSTRY_ID])
        chains.setdefault((industry, str(row[s.CHAIN_ID]), str(row[s.CHAIN])), []).append(row)
    ordered = sorted(chains.items(), key=lambda kv: (industry_rank(kv[0][0]), kv[0][1], kv[0][2]))
    sizes = _nonblank(d[s.CLUSTER_GROUP]).value_counts() if s.CLUSTER_GROUP in d.columns else pd.Series(dtype=int)
    return [
        {
            "industry": ind,
            "chain": chain or "（未对应产业链）",
            "clusters": sorted(rows, key=lambda r: -_num(r["size"])),
            **_cluster_groups(rows, sizes),
        }
        for (ind, _, chain), rows in ordered
    ]


def _cluster_groups(rows: list[dict[str, Any]], sizes: pd.Series) -> dict[str, list[dict[str, Any]]]:
    """The second level within one chain: "groups" holding two or more clusters (largest first, each with its
    label, demand count and clusters) and the "lone" clusters, the only cluster of their group or in none."""
    by_group: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_group.setdefault(str(row.get(s.CLUSTER_GROUP, "")), []).append(row)
    groups: list[dict[str, Any]] = []
    lone: list[dict[str, Any]] = []
    for group, members in by_group.items():
        members.sort(key=lambda r: (-_num(r["size"]), str(r[s.CLUSTER_ID])))
        if not group or len(members) < 2:
            lone.extend(members)
            continue
        size = int(sizes.get(group, sum(_num(r["size"]) for r in members)))
        label = next((str(r[s.CLUSTER_GROUP_LABEL]) for r in members if r.get(s.CLUSTER_GROUP_LABEL)), "")
        groups.append({"id": group, "label": label, "size": size, "clusters": members})
    groups.sort(key=lambda g: (-_num(g["size"]), str(g["id"])))
    return {"groups": groups, "lone": sorted(lone, key=lambda r: (-_num(r["size"]), str(r[s.CLUSTER_ID])))}


def _records(df: pd.DataFrame, columns: Sequence[str]) -> list[dict[str, Any]]:
    """Rows as dicts for display: missing -> "", bool -> 是/否, numpy scalars -> Python numbers."""
    series = [df[c].tolist() if c in df.columns else [""] * len(df) for c in columns]
    return [dict(zip(columns, map(_display, row), strict=True)) for row in zip(*series, strict=True)]


def _display(value: object) -> object:
    if is_missing(value):
        return ""
    if isinstance(value, bool | np.bool_):
        return "是" if value else "否"
    if isinstance(value, np.generic):
        return value.item()
    return value


def _text(value: object) -> str:
    """Display text (HTML is escaped by the template, not neutralised): "" for missing."""
    return "" if is_missing(value) else str(value)


def _num(value: object) -> float:
    """A display value as a float for sorting: 0.0 for blanks and non-numbers."""
    if isinstance(value, numbers.Real) and not is_missing(value):
        return float(value)
    return 0.0


def _share(count: object, d: pd.DataFrame) -> float:
    return round(100.0 * _num(count) / len(d), 1) if len(d) else 0.0


def format_number(value: object, digits: int = 0) -> str:
    """Jinja filter `num`: thousands separators, `digits` decimals for floats; "" for blanks."""
    if is_missing(value) or isinstance(value, bool) or not isinstance(value, numbers.Real):
        return "" if is_missing(value) else str(value)
    return f"{value:,.{digits}f}" if isinstance(value, float) else f"{value:,}"


def _nonblank_mask(series: pd.Series) -> pd.Series:
    return series.map(lambda v: not is_missing(v) and str(v) != "").astype(bool)


def _nonblank(series: pd.Series) -> pd.Series:
    return series[_nonblank_mask(series)].astype(str)


def _review_mask(d: pd.DataFrame) -> pd.Series:
    """NEEDS_REVIEW as booleans, whatever the frame holds (bool, 0/1, "true"/"false", blank)."""
    truthy = {"true", "1", "yes", "y", "是"}
    return d[s.NEEDS_REVIEW].map(lambda v: False if is_missing(v) else str(v).strip().lower() in truthy).astype(bool)
