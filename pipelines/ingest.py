"""Raw submission rows -> canonical demands + quarantine. Every row read is either accepted or quarantined.

`canonicalize` is pure (one RawTable in, two frames out); `ingest_files` reads files through `readers` and records
one line per file, so one unreadable file never stops the others.

Ids (`demand_id`): "D" + 16 hex of sha256("call_id|source_file|key"). key is "ext:<需求编号>" when the external id
is non-empty and used by exactly one row read in the file (accepted or quarantined), else
"content:<content_hash>:<k>", k counting the file's content-keyed rows with that hash, ordered by their whole
canonical record (so reordering rows, or re-ingesting the file, gives the same ids; identical rows just swap).
When two files of one call share a base name, ids of the later one use "<name>#<sha256[:8]>" as source_file
(SOURCE_FILE itself stays the base name); a file byte-identical to an earlier one is skipped and reported.
"""

import hashlib
import json
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from . import schema as s
from .errors import CallTooLargeError, UnreadableFileError
from .readers import ColumnMap, RawTable, file_sha256, header_label, map_columns, read_submission
from .regions import normalize_region
from .settings import IngestConfig

FLAG_LABELS: dict[str, str] = {
    "no_description": "仅有需求名称，无需求描述（按名称映射）",
    "title_too_short": "需求名称过短，已改由需求描述生成名称",
    "title_derived": "无需求名称，已取需求描述首句作为名称",
    "cell_truncated": "有单元格超过长度上限，已截断",
    "funding_unreadable": "拟投入资金无法识别为数字（已置空）",
    "funding_negative": "拟投入资金为负数（已置空）",
    "region_unrecognised": "所在地区不是四川省 21 个市州之一（保留原值）",
    "credit_code_invalid": "统一社会信用代码不是 18 位数字或大写字母（保留原值）",
    "external_id_ambiguous": "需求编号在本文件中被多行不同内容使用（已改按内容生成编号）",
    "external_id_repeated": "需求编号与内容在本文件中重复出现（疑似重复提交）",
}
DEMAND_COLUMNS = [
    *(s.DEMAND_ID, s.CALL_ID, s.EXTERNAL_ID, s.SOURCE_FILE, s.SOURCE_ROW, s.TITLE, s.TEXT, s.ENTERPRISE),
    *(s.CREDIT_CODE, s.REGION, s.CONTACT, s.PHONE, s.FUNDING, s.COOP_MODE, s.DEADLINE, s.FLAGS, s.CONTENT_HASH),
]
FILES_COLUMNS = s.FILES_COLUMNS
TITLE_FROM_TEXT_CHARS = 30

_PLAIN_FIELDS = (s.EXTERNAL_ID, s.ENTERPRISE, s.CONTACT, s.PHONE, s.COOP_MODE, s.DEADLINE)
_SENTENCE_RE = re.compile(r"[。！？!?；;\n]")
_LEAD_RE = re.compile(r"^\s*(?:[一二三四五六七八九十\d]+[、.．)）]\s*)?(?:[^，。：:\n]{1,6}[：:])?\s*")
_FUNDING_RE = re.compile(
    r"(?:约|大约|预计|不超过|不少于|不低于)?(-?\d+(?:\.\d+)?)(亿元|亿|万元|万|w|千元|元)?(?:左右|以上|以内)?"
)
_FUNDING_UNITS = {"亿元": 1e4, "亿": 1e4, "万元": 1.0, "万": 1.0, "w": 1.0, "千元": 0.1, "元": 1e-4, "": 1.0}
_CREDIT_CODE_RE = re.compile(r"[0-9A-Z]{18}")


@dataclass(frozen=True, eq=False)
class IngestResult:
    demands: pd.DataFrame  # DEMAND_COLUMNS, sorted by DEMAND_ID
    quarantine: pd.DataFrame  # schema.QUARANTINE_EXPORT_COLUMNS
    files: pd.DataFrame  # FILES_COLUMNS, one row per input path, in the order given


@dataclass
class _Cells:
    """One row's cells; `get` strips, removes NUL and caps at `cap` characters (flagging cell_truncated)."""

    values: dict[str, str]
    cap: int
    flags: set[str] = field(default_factory=set)

    def get(self, column: str | None) -> str:
        value = str(self.values.get(column, "")) if column is not None else ""
        value = value.replace("\x00", "").strip()
        if len(value) > self.cap:
            self.flags.add("cell_truncated")
            value = value[: self.cap]
        return value


def demand_id(call_id: str, source_file: str, external_id: str, content_key: str) -> str:
    """ "D" + 16 hex chars. `external_id` ("" when not usable as the key) wins over `content_key`
    ("<content_hash>:<occurrence>")."""
    key = f"ext:{external_id}" if external_id else f"content:{content_key}"
    return "D" + hashlib.sha256(f"{call_id}|{source_file}|{key}".encode()).hexdigest()[:16]


def content_hash(title: str, text: str) -> str:
    return hashlib.sha256(f"{title.strip()}\n{text.strip()}".encode()).hexdigest()


def parse_funding(raw: str) -> tuple[float, str | None]:
    """万元 from "50", "50万", "1,200", "30万元左右", "500000元"; (NaN, flag) when unreadable or negative."""
    text = re.sub(r"[\s,]", "", unicodedata.normalize("NFKC", raw)).lower()
    if not text:
        return np.nan, None
    match = _FUNDING_RE.fullmatch(text)
    if match is None:
        return np.nan, "funding_unreadable"
    value = float(match.group(1)) * _FUNDING_UNITS[match.group(2) or ""]
    return (np.nan, "funding_negative") if value < 0 else (value, None)


def derive_title(text: str) -> str:
    """The first sentence of `text` without a leading "一、" or "需求内容：", cut to TITLE_FROM_TEXT_CHARS."""
    for piece in _SENTENCE_RE.split(text):
        piece = _LEAD_RE.sub("", piece).strip()
        if piece:
            return piece[:TITLE_FROM_TEXT_CHARS]
    return text.strip()[:TITLE_FROM_TEXT_CHARS]


def _join_labels(labels: list[str]) -> str:
    return " 与 ".join(labels) if len(labels) == 2 else "、".join(labels)


def _title_and_text(cells: _Cells, cmap: ColumnMap, min_title: int) -> tuple[str, str] | tuple[None, str]:
    """(title, text), or (None, problem) when the row has neither. Several text columns become labelled sections."""
    title = cells.get(cmap.fields.get(s.TITLE))
    sections = [(header_label(col), cells.get(col)) for col in cmap.text]
    sections = [(label, value) for label, value in sections if value]
    several = len(cmap.text) > 1
    text = "\n".join(f"{label}：{value}" if several else value for label, value in sections)
    labels = [header_label(c) for c in (cmap.fields.get(s.TITLE), *cmap.text) if c is not None]
    if 0 < len(title) < min_title:
        if not text:
            empty = f"且{_join_labels(labels[1:])}为空" if len(labels) > 1 else ""
            return None, f"{labels[0]}“{title}”过短（少于 {min_title} 字）{empty}，请补充后重新提交"
        cells.flags.add("title_too_short")
        title = ""
    if not title and not text:
        verb = "均为空" if len(labels) > 1 else "为空"
        return None, f"{_join_labels(labels)} {verb}，请补填需求名称或需求描述后重新提交"
    if not title:
        cells.flags.add("title_derived")
        title = derive_title(sections[0][1])
    elif not text:
        cells.flags.add("no_description")
    return title, text


def _canonical_row(cells: _Cells, cmap: ColumnMap, config: IngestConfig) -> dict[str, object] | str:
    """The canonical fields of one row (no ids, no FLAGS: those are in `cells.flags`), or why it is rejected."""
    title, text = _title_and_text(cells, cmap, config.min_title_chars)
    if title is None:
        return text
    record: dict[str, object] = {f: cells.get(cmap.fields.get(f)) for f in _PLAIN_FIELDS}
    funding, flag = parse_funding(cells.get(cmap.fields.get(s.FUNDING)))
    raw_region = cells.get(cmap.fields.get(s.REGION))
    region = normalize_region(raw_region) if raw_region else ""
    code = re.sub(r"\s+", "", unicodedata.normalize("NFKC", cells.get(cmap.fields.get(s.CREDIT_CODE)))).upper()
    if flag:
        cells.flags.add(flag)
    if region is None:
        cells.flags.add("region_unrecognised")
    if code and not _CREDIT_CODE_RE.fullmatch(code):
        cells.flags.add("credit_code_invalid")
    record.update({s.TITLE: title, s.TEXT: text, s.FUNDING: funding, s.CREDIT_CODE: code})
    record.update({s.REGION: raw_region if region is None else region, s.CONTENT_HASH: content_hash(title, text)})
    return record


def _record_key(record: dict[str, object]) -> str:
    """The whole canonical record except its row number: orders the rows that share a content hash."""
    return json.dumps([str(record.get(c, "")) for c in DEMAND_COLUMNS if c != s.SOURCE_ROW], ensure_ascii=False)


_Accepted = tuple[dict[str, object], set[str]]  # a record and its flags


def _assign_ids(accepted: list[_Accepted], ext_rows: list[tuple[str, str]], call_id: str, id_file: str) -> None:
    """Set DEMAND_ID and the external-id flags in place. `ext_rows`: (external id, content hash or "" when
    quarantined) for every row read with a non-empty external id."""
    uses = Counter(ext for ext, _ in ext_rows)
    contents: dict[str, set[str]] = defaultdict(set)
    for ext, digest in ext_rows:
        contents[ext].add(digest)
    by_content: dict[str, list[dict[str, object]]] = defaultdict(list)
    for record, flags in accepted:
        ext = str(record[s.EXTERNAL_ID])
        if ext and uses[ext] == 1:
            record[s.DEMAND_ID] = demand_id(call_id, id_file, ext, "")
            continue
        if ext:
            flags.add("external_id_repeated" if len(contents[ext]) == 1 else "external_id_ambiguous")
        by_content[str(record[s.CONTENT_HASH])].append(record)
    for digest, group in by_content.items():
        group.sort(key=_record_key)
        for occurrence, record in enumerate(group):
            record[s.DEMAND_ID] = demand_id(call_id, id_file, "", f"{digest}:{occurrence}")


def _quarantine_row(call_id: str, file: str, row: int, column: str, reason: str, raw: object) -> dict[str, object]:
    values = (call_id, file, row, column, f"文件 {file} 第 {row} 行：{reason}", json.dumps(raw, ensure_ascii=False))
    return dict(zip(s.QUARANTINE_EXPORT_COLUMNS, values, strict=True))


def _typed(frame: pd.DataFrame, columns: list[str], ints: Sequence[str] = (s.SOURCE_ROW,)) -> pd.DataFrame:
    """Frame with exactly `columns`: `ints` int64, FUNDING float64, everything else str."""
    types = {c: ("int64" if c in ints else "float64" if c == s.FUNDING else "str") for c in columns}
    return frame.reindex(columns=columns).astype(types)


def canonicalize(
    table: RawTable, call_id: str, config: IngestConfig, *, id_file_name: str | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(demands, quarantine) for one file. demands: DEMAND_COLUMNS sorted by DEMAND_ID; quarantine:
    QUARANTINE_EXPORT_COLUMNS by row. `id_file_name` replaces the file name inside ids (see module doc)."""
    name = table.file_name
    cmap = map_columns(str(c) for c in table.rows.columns if c != s.SOURCE_ROW)
    labels = [header_label(c) for c in (cmap.fields.get(s.TITLE), *cmap.text) if c is not None]
    accepted: list[_Accepted] = []
    rejected: list[dict[str, object]] = []
    ext_rows: list[tuple[str, str]] = []
    for raw in table.rows.to_dict("records"):
        values = {str(k): "" if pd.isna(v) else str(v) for k, v in raw.items() if k != s.SOURCE_ROW}
        row, cells = int(raw[s.SOURCE_ROW]), _Cells(values, config.max_cell_chars)
        out = _canonical_row(cells, cmap, config)
        if isinstance(out, str):
            rejected.append(_quarantine_row(call_id, name, row, "、".join(labels), out, values))
        else:
            accepted.append(({**out, s.CALL_ID: call_id, s.SOURCE_FILE: name, s.SOURCE_ROW: row}, cells.flags))
        ext = cells.get(cmap.fields.get(s.EXTERNAL_ID))
        if ext:
            ext_rows.append((ext, "" if isinstance(out, str) else str(out[s.CONTENT_HASH])))
    for line in table.rejected:
        reason = f"{line.reason}，请修正该行后重新提交"
        rejected.append(_quarantine_row(call_id, name, line.source_row, "", reason, {"line": line.raw}))
    _assign_ids(accepted, ext_rows, call_id, id_file_name or name)
    records = [{**record, s.FLAGS: ";".join(f for f in FLAG_LABELS if f in flags)} for record, flags in accepted]
    demands = _typed(pd.DataFrame(records), DEMAND_COLUMNS).sort_values(s.DEMAND_ID, ignore_index=True)
    quarantine = _typed(pd.DataFrame(rejected), s.QUARANTINE_EXPORT_COLUMNS)
    return demands, quarantine.sort_values(s.SOURCE_ROW, kind="stable", ignore_index=True)


def _file_row(name: str, sha: str, counts: tuple[int, int, int], error: str) -> dict[str, object]:
    return dict(zip(FILES_COLUMNS, (name, sha, *counts, error), strict=True))


def ingest_files(paths: Sequence[Path], call_id: str, config: IngestConfig) -> IngestResult:
    """Read and canonicalize each file. Unreadable files get a `files` row with `error` and rows_read 0.

    Raises CallTooLargeError once the call holds more than `config.max_rows_per_call` rows."""
    demands: list[pd.DataFrame] = []
    quarantine: list[pd.DataFrame] = []
    files: list[dict[str, object]] = []
    names: set[str] = set()
    seen: dict[str, str] = {}  # sha256 -> file name
    total = 0  # rows read so far in this call
    for path in paths:
        try:
            table = read_submission(path, config)
        except UnreadableFileError as exc:
            files.append(_file_row(path.name, file_sha256(path), (0, 0, 0), exc.reason))
            continue
        if table.sha256 in seen:
            reason = f"与已读取的文件 {seen[table.sha256]} 内容完全相同，已跳过（避免重复计数）"
            files.append(_file_row(table.file_name, table.sha256, (0, 0, 0), reason))
            continue
        id_file = f"{table.file_name}#{table.sha256[:8]}" if table.file_name in names else table.file_name
        names.add(table.file_name)
        seen[table.sha256] = table.file_name
        total += len(table.rows) + len(table.rejected)
        if total > config.max_rows_per_call:
            raise CallTooLargeError(
                f"本批次读到 {total:,} 行（读到文件 {table.file_name} 时）已超过上限 {config.max_rows_per_call:,} 行"
                "（配置项 ingest.max_rows_per_call），请分批处理或在配置文件中调高上限"
            )
        accepted, rejected = canonicalize(table, call_id, config, id_file_name=id_file)
        counts = (len(table.rows) + len(table.rejected), len(accepted), len(rejected))
        files.append(_file_row(table.file_name, table.sha256, counts, ""))
        demands.append(accepted)
        quarantine.append(rejected)
    return IngestResult(
        _typed(_concat(demands), DEMAND_COLUMNS).sort_values(s.DEMAND_ID, ignore_index=True),
        _typed(_concat(quarantine), s.QUARANTINE_EXPORT_COLUMNS),
        _typed(pd.DataFrame(files), FILES_COLUMNS, ints=FILES_COLUMNS[2:5]),
    )


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    non_empty = [f for f in frames if len(f)]
    return pd.concat(non_empty, ignore_index=True) if non_empty else pd.DataFrame()
