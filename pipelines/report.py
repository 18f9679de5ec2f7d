"""Every output of a run: machine CSV exports, the reviewers' workbook, the HTML report and the manifest.

`write_outputs` writes, into one directory:
  demands.csv / clusters.csv / quarantine.csv  UTF-8 with BOM, English headers exactly as in `schema`,
      booleans true/false, floats rounded to 4 places, text neutralised with `safe.safe_text`;
  draft_list.xlsx  (see `workbook`);  demand_list.xlsx / demand_list.docx  (the department's 需求清单 format, see
  `demand_list`);  report.html  (the staff's working view: one self-contained page, see `write_html`);  manifest.json.
Each file is written to a temporary name first and renamed into place, so no half-written file is left.
"""

import base64
import csv
import datetime as dt
import hashlib
import json
import math
import numbers
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from . import schema as s
from .completeness import RETURN_LIST_HEADERS
from .demand_list import (
    build_demand_list,
    key_sentences,
    representative,
    source_label,
    split_member_ids,
)
from .demand_list_files import write_demand_list_docx, write_demand_list_xlsx
from .safe import is_missing, safe_text
from .workbook import DUPLICATE_KIND_LABELS, industry_of, industry_rank, write_return_list, write_workbook

# columns of ReportBundle.files: one row per input file
FILES_COLUMNS = s.FILES_COLUMNS
FILE_ROWS_READ = FILES_COLUMNS[2]

DEMANDS_CSV, CLUSTERS_CSV, QUARANTINE_CSV = "demands.csv", "clusters.csv", "quarantine.csv"
DRAFT_XLSX, REPORT_HTML, MANIFEST_JSON = "draft_list.xlsx", "report.html", "manifest.json"
PAIRS_CSV = "duplicate_pairs.csv"  # machine export of every duplicate decision, when the flow provides them
RETURNS_XLSX = "return_list.xlsx"  # per-enterprise list of incomplete demands, when the flow provides it
LIST_XLSX, LIST_DOCX = "demand_list.xlsx", "demand_list.docx"  # the draft list in the department's format
OUTPUT_FILES = (
    DEMANDS_CSV, CLUSTERS_CSV, QUARANTINE_CSV, DRAFT_XLSX, LIST_XLSX, LIST_DOCX, REPORT_HTML, MANIFEST_JSON,
)  # fmt: skip
TEMPLATE = "report.html.j2"
FILTER_SCRIPT = "report_filter.js.j2"  # the page's only script; allowed by its sha256 hash in the CSP
MAX_CHART_BARS = 20  # bars per overview chart; the rest are summed into one "其他" bar
CSV_FLOAT_DIGITS = 4
MAX_MEMBERS = 50  # members listed per duplicate group / cluster in the HTML report
MAX_GROUPS = 300  # duplicate groups listed in the HTML report
MAX_TABLE_ROWS = 500  # rows of the review queue and quarantine tables in the HTML report
_REVIEW_COLUMNS = (s.DEMAND_ID, s.TITLE, s.ENTERPRISE, s.INDUSTRY, s.CHAIN, s.CONFIDENCE, s.REVIEW_REASON, s.EVIDENCE)
_GROUP_MEMBER_COLUMNS = (s.DEMAND_ID, s.TITLE, s.ENTERPRISE, s.DUPLICATE_OF, s.DUPLICATE_SCORE, s.DUPLICATE_REASON)


@dataclass(frozen=True)
class ReportBundle:
    """Everything the writers need for one call; frames carry the schema's export columns (maybe more)."""

    call_id: str
    demands: pd.DataFrame  # DEMANDS_EXPORT_COLUMNS
    clusters: pd.DataFrame  # CLUSTERS_EXPORT_COLUMNS
    drafts: pd.DataFrame  # DRAFT_COLUMNS
    quarantine: pd.DataFrame  # QUARANTINE_EXPORT_COLUMNS
    files: pd.DataFrame  # FILES_COLUMNS
    manifest: dict[str, Any]  # JSON-able
    duplicate_pairs: pd.DataFrame | None = None  # dedup.PAIR_COLUMNS: every pair decision, merged or kept apart
    returns: pd.DataFrame | None = None  # completeness.RETURN_LIST_COLUMNS: enterprises to ask for missing details


def write_outputs(bundle: ReportBundle, out_dir: Path) -> dict[str, Path]:
    """Create `out_dir` and write OUTPUT_FILES (and the optional pair and return lists); {file name: path}."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {name: out_dir / name for name in OUTPUT_FILES}
    write_csv(bundle.demands, s.DEMANDS_EXPORT_COLUMNS, paths[DEMANDS_CSV])
    write_csv(bundle.clusters, s.CLUSTERS_EXPORT_COLUMNS, paths[CLUSTERS_CSV])
    write_csv(bundle.quarantine, s.QUARANTINE_EXPORT_COLUMNS, paths[QUARANTINE_CSV])
    write_draft_workbook(bundle, paths[DRAFT_XLSX])
    sections = build_demand_list(bundle.drafts, bundle.demands)
    _write_atomically(paths[LIST_XLSX], lambda tmp: write_demand_list_xlsx(bundle.call_id, sections, tmp))
    _write_atomically(paths[LIST_DOCX], lambda tmp: write_demand_list_docx(bundle.call_id, sections, tmp))
    write_html(bundle, paths[REPORT_HTML])
    write_manifest(bundle.manifest, paths[MANIFEST_JSON])
    if bundle.duplicate_pairs is not None:
        paths[PAIRS_CSV] = out_dir / PAIRS_CSV
        write_csv(bundle.duplicate_pairs, list(bundle.duplicate_pairs.columns), paths[PAIRS_CSV])
    if bundle.returns is not None:
        returns = bundle.returns
        paths[RETURNS_XLSX] = out_dir / RETURNS_XLSX
        _write_atomically(paths[RETURNS_XLSX], lambda tmp: write_return_list(returns, RETURN_LIST_HEADERS, tmp))
    return paths


def write_csv(df: pd.DataFrame, columns: Sequence[str], path: Path) -> None:
    """Write `columns` of `df` (header exactly `columns`) as UTF-8 with BOM; a missing column -> ValueError.

    Missing values -> empty field; booleans -> true/false; floats rounded to 4 places; text through
    `safe_text`, so no text field starts with = + - @ tab or CR. Numbers are written as numbers.
    """
    s.require_columns(df, columns, f"write_csv({path.name})")
    rows = zip(*(df[c].tolist() for c in columns), strict=True) if len(columns) else iter(())

    def write(tmp: Path) -> None:
        with tmp.open("w", encoding="utf-8-sig", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(list(columns))
            writer.writerows([csv_field(v) for v in row] for row in rows)

    _write_atomically(path, write)


def csv_field(value: object) -> str:
    """One CSV field: "" for missing, true/false, integers as is, floats to 4 places, neutralised text."""
    if type(value) is str:
        return safe_text(value)
    if is_missing(value):
        return ""
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        number = float(value)
        if math.isinf(number):
            return "inf" if number > 0 else "-inf"
        text = f"{round(number, CSV_FLOAT_DIGITS):.{CSV_FLOAT_DIGITS}f}".rstrip("0").rstrip(".")
        return "0" if text in ("-0", "") else text
    return safe_text(value)


def write_draft_workbook(bundle: ReportBundle, path: Path) -> None:
    """draft_list.xlsx for reviewers: 说明, one sheet per industry, 需求明细, 隔离记录 (see `workbook`)."""
    counts = overview(bundle)
    _write_atomically(
        path,
        lambda tmp: write_workbook(bundle.call_id, counts, bundle.drafts, bundle.demands, bundle.quarantine, tmp),
    )


def write_html(bundle: ReportBundle, path: Path) -> None:
    """report.html: the staff's working view, one self-contained Chinese page, autoescaped.

    Nothing external is loaded (no CDN, font or remote image); the Content-Security-Policy is default-src 'none'
    with inline style and exactly one inline script, allowed by its sha256 hash: the search and filter over the
    draft entries, reading its data from a <script type="application/json"> block whose <, > and & are escaped.
    """
    env = _environment()
    script = env.get_template(FILTER_SCRIPT).render()
    if "</" in script or "<!--" in script:
        raise ValueError(f"{FILTER_SCRIPT} must not contain '</' or '<!--'")
    context = _html_context(bundle)
    context["filter_data"] = json_for_html(context.pop("filter_index"))
    html = env.get_template(TEMPLATE).render(
        **context, filter_script=Markup(script), script_hash=Markup(script_hash(script))
    )
    _write_atomically(path, lambda tmp: tmp.write_text(html, encoding="utf-8"))


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("pipelines", "templates"),
        autoescape=select_autoescape(("html", "htm", "xml", "j2"), default_for_string=True, default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )
    env.filters["num"] = _format_number
    return env


_JSON_ESCAPES = (("&", "\\u0026"), ("<", "\\u003c"), (">", "\\u003e"), ("\u2028", "\\u2028"), ("\u2029", "\\u2029"))


def script_hash(script: str) -> str:
    """The CSP source of an inline script: 'sha256-<base64 of the digest of its exact text>'."""
    digest = hashlib.sha256(script.encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode('ascii')}'"


def json_for_html(data: object) -> Markup:
    """JSON to embed in a <script type="application/json"> block: <, > and & as \\u003c \\u003e \\u0026, so no
    text can close the block or open markup; U+2028/2029 escaped too."""
    text = json.dumps(_jsonable(data), ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    for raw, escaped in _JSON_ESCAPES:
        text = text.replace(raw, escaped)
    return Markup(text)


def overview(bundle: ReportBundle) -> list[tuple[str, int]]:
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


def _html_context(bundle: ReportBundle) -> dict[str, Any]:
    """Plain lists and dicts for the template; long lists are capped, counts never are."""
    d = bundle.demands
    groups = _duplicate_groups(d)
    review = d[_review_mask(d)].sort_values(s.CONFIDENCE, na_position="first", kind="stable")
    return {
        "call_id": bundle.call_id,
        "cards": overview(bundle),
        "files": _records(bundle.files, FILES_COLUMNS),
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
            row["content"] = key_sentences(_text(rep[s.TEXT]), source_label(rep), _text(rep[s.TITLE])) if rep else ""
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


def _format_number(value: object, digits: int = 0) -> str:
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


def write_manifest(manifest: dict[str, Any], path: Path) -> None:
    """manifest.json: UTF-8, ensure_ascii=False, indent 2, sorted keys; NaN -> null, numpy -> Python."""
    text = json.dumps(_jsonable(manifest), ensure_ascii=False, indent=2, sort_keys=True, allow_nan=False)
    _write_atomically(path, lambda tmp: tmp.write_text(text + "\n", encoding="utf-8"))


def _jsonable(value: object) -> object:
    """A deep copy of `value` made of JSON types only (dict keys as str, tuples/sets as lists)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=str) if isinstance(value, set | frozenset) else value
        return [_jsonable(v) for v in items]
    if isinstance(value, np.generic):
        value = value.item()
    if is_missing(value) or (isinstance(value, float) and math.isinf(value)):
        return None
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, dt.date | dt.datetime | pd.Timestamp):
        return value.isoformat()
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise TypeError(f"manifest value of type {type(value).__name__} is not JSON-able: {value!r}")


def _write_atomically(path: Path, write: Callable[[Path], object]) -> None:
    """Run `write` on a temporary sibling of `path`, then rename it into place (removed on failure)."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
