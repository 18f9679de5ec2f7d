"""Every output of a run: machine CSV exports, the reviewers' workbook, the HTML report and the manifest.

`write_outputs` writes, into one directory:
  demands.csv / clusters.csv / quarantine.csv  UTF-8 with BOM, English headers exactly as in `schema`,
      booleans true/false, floats rounded to 4 places, text neutralised with `safe.safe_text`;
  draft_list.xlsx  (see `workbook`);  demand_list.xlsx / demand_list.docx  (the department's 需求清单 format, see
  `demand_list`);  report.html  (the staff's working view: one self-contained page, see `write_html`; its data
  from `report_view`);  manifest.json.
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
from .demand_list import build_demand_list
from .demand_list_files import write_demand_list_docx, write_demand_list_xlsx
from .report_view import format_number, html_context, overview
from .safe import is_missing, safe_text
from .workbook import write_return_list, write_workbook

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
CSV_FLOAT_DIGITS = 4


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
    context = html_context(bundle)
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
    env.filters["num"] = format_number
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
