"""Read one raw submission file (.xlsx / .csv / .jsonl) into a RawTable: every cell as str, with its row number.

This is the system boundary: whatever is wrong with a whole file becomes an UnreadableFileError with a Chinese
reason; no library exception escapes `read_submission`. Rows are not judged here (that is `ingest.canonicalize`),
except JSONL lines that are not JSON objects, which are handed on in `RawTable.rejected`.
A row whose cells are all blank is not a row: it is dropped here and never counted.
"""

import csv
import datetime as dt
import functools
import hashlib
import io
import json
import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from itertools import chain, islice
from pathlib import Path
from typing import TypeVar

import charset_normalizer
import openpyxl
import pandas as pd

from . import schema as s
from .errors import UnreadableFileError
from .settings import IngestConfig

MAX_FILE_BYTES = 50 * 1024 * 1024  # the CSV field-size ceiling; the file-size limit itself is IngestConfig.max_file_mb
HEADER_SCAN_ROWS = 10  # the header row is searched among the first rows of a sheet / CSV
NO_COLUMNS_REASON = (
    "未找到需求名称或需求描述列（表头应位于前 10 行内，且含 需求名称/项目名称/title 或 需求描述/需求内容/description）"
)

# Field (schema constant) -> header aliases, best first: when two columns match one field the better alias wins.
# Every TEXT alias is a section of the demand text; several TEXT columns are joined in file order.
FIELD_ALIASES: dict[str, tuple[str, ...]] = {
    s.TITLE: ("需求名称", "技术需求名称", "项目名称", "需求项目名称", "需求标题", "名称", "title", "name"),
    s.TEXT: (
        *("需求描述", "需求内容", "技术需求描述", "技术需求内容", "技术难点", "需求详情", "需求说明", "需求简介"),
        *("具体需求", "需求背景", "预期目标", "预期指标", "技术指标", "主要技术指标", "预期效果"),
        *("现有工作基础", "现有基础", "工作基础", "description", "text", "content"),
    ),
    s.ENTERPRISE: ("企业名称", "单位名称", "申报单位", "需求单位", "需求企业", "enterprise", "company"),
    s.CREDIT_CODE: ("统一社会信用代码", "社会信用代码", "信用代码", "credit_code"),
    s.REGION: ("所在市州", "所属市州", "市州", "所在地区", "地区", "所在地", "region", "city"),
    s.CONTACT: ("联系人", "联系人姓名", "contact"),
    s.PHONE: ("联系电话", "电话", "手机", "手机号码", "联系方式", "phone", "mobile"),
    s.FUNDING: ("拟投入资金", "投入资金", "拟投入经费", "拟投资金额", "funding", "budget"),
    s.COOP_MODE: ("合作方式", "合作模式", "cooperation", "coop_mode"),
    s.DEADLINE: ("期望完成时间", "完成时间", "期望完成日期", "deadline"),
    s.EXTERNAL_ID: ("需求编号", "编号", "序号", "id", "external_id"),
}

_NOTE_RE = re.compile(r"[(\[【<《].*?[)\]】>》]")  # "（必填）", "（万元）", "[选填]" ... after NFKC
_NOISE_RE = re.compile(r"[\s*_\-:]")
_UNIT_RE = re.compile(r"/?(?:单位)?(?:万元|元)$")
# Leading bytes of files that are something else renamed, and what to call them.
_MAGIC = (
    (b"PK\x03\x04", "Excel .xlsx 或其他 ZIP 压缩文件"),
    (b"\xd0\xcf\x11\xe0", "旧版 Excel .xls、Word .doc 或加密的工作簿"),
    *((b"%PDF", "PDF 文件"), (b"\x89PNG", "PNG 图片"), (b"\xff\xd8\xff", "JPEG 图片")),
)


@dataclass(frozen=True)
class RejectedLine:
    """A JSONL line that is not a JSON object: it is quarantined by ingest, with its line number."""

    source_row: int
    reason: str  # Chinese, without file name or line number
    raw: str


@dataclass(frozen=True, eq=False)
class RawTable:
    """One file's cells. `rows`: one column per header cell (original names; blank ones named "第N列",
    repeated ones suffixed "（2）"), every cell a str ("" for empty), plus SOURCE_ROW (int, as the user sees it)."""

    file_name: str
    sha256: str
    header: tuple[str, ...]
    rows: pd.DataFrame
    rejected: tuple[RejectedLine, ...] = ()


@dataclass(frozen=True)
class ColumnMap:
    """Which column feeds which field: `fields` maps schema constants (except TEXT) to one column name,
    `text` lists the text-like columns in file order."""

    fields: Mapping[str, str]
    text: tuple[str, ...]

    @property
    def usable(self) -> bool:
        return s.TITLE in self.fields or bool(self.text)


def normalize_header(cell: str) -> str:
    """NFKC, lowercase, without notes in brackets, spaces, asterisks, underscores and a 万元/元 unit suffix."""
    text = _NOTE_RE.sub("", unicodedata.normalize("NFKC", cell).lower())
    return _UNIT_RE.sub("", _NOISE_RE.sub("", text))


def header_label(cell: str) -> str:
    """The header as shown in a joined text section or a message: without notes and asterisks."""
    label = _NOTE_RE.sub("", unicodedata.normalize("NFKC", cell)).replace("*", "").strip().rstrip(":")
    return label or cell.strip()


@functools.cache
def _alias_index() -> dict[str, tuple[str, int]]:
    return {normalize_header(a): (f, rank) for f, aliases in FIELD_ALIASES.items() for rank, a in enumerate(aliases)}


def match_field(cell: str) -> tuple[str, int] | None:
    """(field, alias rank) for a header cell, trying "联系电话/手机"-style parts when the whole does not match."""
    index, key = _alias_index(), normalize_header(cell)
    for candidate in (key, *re.split(r"[/、|]", key)):
        if candidate in index:
            return index[candidate]
    return None


def map_columns(columns: Iterable[str]) -> ColumnMap:
    """Assign header cells to fields: for each field the best-ranked alias (leftmost on a tie); all text columns."""
    best: dict[str, tuple[int, str]] = {}
    text: list[str] = []
    for column in columns:
        found = match_field(column) if column.strip() else None
        if found is None:
            continue
        field, rank = found
        if field == s.TEXT:
            text.append(column)
        elif field not in best or rank < best[field][0]:
            best[field] = (rank, column)
    return ColumnMap({f: col for f, (_, col) in best.items()}, tuple(text))


def read_submission(path: Path, config: IngestConfig) -> RawTable:
    """Read one .xlsx / .csv / .jsonl file. Raises UnreadableFileError(file name, Chinese reason).

    Files over `config.max_file_mb` or with more than `config.max_rows_per_file` rows are refused, naming the limit
    (rows are counted while streaming, so a huge or zip-bombed sheet is never held in memory whole).
    """
    name, suffix = path.name, path.suffix.lower()
    readers = {".xlsx": _read_xlsx, ".xlsm": _read_xlsx, ".csv": _read_csv, ".jsonl": _read_jsonl}
    if suffix not in readers:
        hint = "旧版 .xls 请在 Excel 中另存为 .xlsx；" if suffix == ".xls" else ""
        raise UnreadableFileError(name, f"不支持的文件类型“{suffix or '无扩展名'}”，{hint}请提交 .xlsx、.csv 或 .jsonl")
    data = _read_bytes(path, config.max_file_mb)
    try:
        with _row_limit(name, config.max_rows_per_file):
            table = readers[suffix](data, name, hashlib.sha256(data).hexdigest())
    except UnreadableFileError:
        raise
    except Exception as exc:  # the boundary: any library error on a bad file becomes a user-facing reason
        kind = "Excel .xlsx 文件" if suffix in (".xlsx", ".xlsm") else f"{suffix} 文件"
        detail = f"{type(exc).__name__}: {exc}"[:200]
        raise UnreadableFileError(name, f"不是有效的 {kind}或文件已损坏（{detail}），请重新导出后再提交") from exc
    if table is None:
        raise UnreadableFileError(name, NO_COLUMNS_REASON)
    return table


def file_sha256(path: Path) -> str:
    """sha256 hex of the file's bytes, "" when it cannot be read (for reporting unreadable files)."""
    try:
        with path.open("rb") as handle:
            return hashlib.file_digest(handle, "sha256").hexdigest()
    except OSError:
        return ""


_ROW_LIMIT: ContextVar[tuple[str, int] | None] = ContextVar("row_limit", default=None)


@contextmanager
def _row_limit(name: str, limit: int) -> Iterator[None]:
    token = _ROW_LIMIT.set((name, limit))
    try:
        yield
    finally:
        _ROW_LIMIT.reset(token)


_Row = TypeVar("_Row")


def _counted(grid: Iterable[_Row]) -> Iterator[_Row]:
    """The grid's rows, refusing the file once it has more rows than the active limit (blank rows count too)."""
    active = _ROW_LIMIT.get()
    for seen, item in enumerate(grid, start=1):
        if active is not None and seen > active[1] + HEADER_SCAN_ROWS:
            raise UnreadableFileError(
                active[0], f"文件超过 {active[1]:,} 行的上限（配置项 ingest.max_rows_per_file），请拆分后再提交"
            )
        yield item


def _read_bytes(path: Path, max_mb: float = MAX_FILE_BYTES / 1048576) -> bytes:
    name = path.name
    try:
        if not path.is_file():
            raise UnreadableFileError(name, "文件不存在或不是普通文件，请检查路径")
        size = path.stat().st_size
        if size == 0:
            raise UnreadableFileError(name, "文件为空（0 字节）")
        if size > max_mb * 1048576:
            limit = f"上限 {max_mb:g} MB（配置项 ingest.max_file_mb）"
            raise UnreadableFileError(name, f"文件大小 {size / 1048576:.1f} MB 超过{limit}，请拆分后再提交")
        return path.read_bytes()
    except OSError as exc:
        raise UnreadableFileError(name, f"无法打开文件（{exc.strerror or exc}），请检查文件权限") from exc


def _disguise(data: bytes) -> str | None:
    return next((kind for magic, kind in _MAGIC if data.startswith(magic)), None)


def _cell_str(value: object) -> str:
    """An xlsx cell value as text: integral floats without ".0", dates as ISO dates."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat(sep=" ")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value)


def _is_blank(cells: Iterable[str]) -> bool:
    return all(not c.replace("\x00", "").strip() for c in cells)


def _column_names(header: Sequence[str], width: int) -> list[str]:
    names: list[str] = []
    taken = {s.SOURCE_ROW}
    for i in range(width):
        base = (header[i].strip() if i < len(header) else "") or f"第{i + 1}列"
        name, n = base, 1
        while name in taken:
            n += 1
            name = f"{base}（{n}）"
        taken.add(name)
        names.append(name)
    return names


def _header_score(cells: list[str]) -> int:
    cmap = map_columns(cells)
    return len(cmap.fields) + len(cmap.text) if cmap.usable else 0


def _table_from_grid(name: str, sha: str, grid: Iterator[tuple[int, list[str]]]) -> RawTable | None:
    """Find the header among the first rows (most recognised columns, earliest on a tie), then read the rest.
    None when no header is found (the caller tries the next sheet)."""
    grid = _counted(grid)
    head = list(islice(grid, HEADER_SCAN_ROWS))
    scores = [_header_score(cells) for _, cells in head]
    if not scores or max(scores) == 0:
        return None
    at = scores.index(max(scores))
    found = list(head[at][1])
    while found and not found[-1].strip():
        found.pop()
    header = [c.strip() for c in found]
    body = [(n, cells) for n, cells in chain(head[at + 1 :], grid) if not _is_blank(cells)]
    if not body:
        raise UnreadableFileError(name, f"只有表头（第 {head[at][0]} 行），没有数据行")
    width = max(len(header), *(max(i for i, c in enumerate(cells) if c.strip()) + 1 for _, cells in body))
    cells = [(row + [""] * width)[:width] for _, row in body]
    frame = pd.DataFrame(cells, columns=_column_names(header, width), dtype=str)
    frame[s.SOURCE_ROW] = [n for n, _ in body]
    return RawTable(name, sha, tuple(found), frame)


def _read_xlsx(data: bytes, name: str, sha: str) -> RawTable | None:
    if not data.startswith(b"PK\x03\x04"):
        kind = _disguise(data) or "文本或其他格式的文件"
        raise UnreadableFileError(name, f"不是有效的 Excel .xlsx 文件（实际是{kind}），请用 Excel 打开后另存为 .xlsx")
    workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    try:
        for sheet in workbook.worksheets:
            if not hasattr(sheet, "reset_dimensions"):
                continue  # a chart sheet
            sheet.reset_dimensions()  # stored dimensions may be wrong; read every cell there is
            rows = sheet.iter_rows(values_only=True)
            grid = ((n, [_cell_str(v) for v in row]) for n, row in enumerate(rows, start=1))
            table = _table_from_grid(name, sha, grid)
            if table is not None:
                return table
    finally:
        workbook.close()
    return None


def _decode(data: bytes, name: str) -> str:
    """UTF-16 with BOM, then strict UTF-8 (with or without BOM), then GB18030 (covers GBK), then detection."""
    kind = _disguise(data)
    if kind:
        raise UnreadableFileError(name, f"文件实际是{kind}，不是文本文件，请另存为正确格式后再提交")
    encodings = ("utf-16",) if data.startswith((b"\xff\xfe", b"\xfe\xff")) else ("utf-8-sig", "gb18030")
    for encoding in encodings:
        try:
            return data.decode(encoding).replace("\x00", "")
        except UnicodeDecodeError:
            continue
    best = charset_normalizer.from_bytes(data).best()
    if best is None:
        raise UnreadableFileError(name, "无法识别文件编码，请另存为 UTF-8 或 GBK 编码后再提交")
    return str(best).replace("\x00", "")


def _csv_grid(text: str) -> Iterator[tuple[int, list[str]]]:
    """CSV records numbered as a spreadsheet shows them (a quoted cell spanning lines is still one row)."""
    sample = text.split("\n", HEADER_SCAN_ROWS)[:HEADER_SCAN_ROWS]
    delimiter = max(",\t;", key=lambda d: sum(line.count(d) for line in sample))
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    yield from enumerate(reader, start=1)


def _read_csv(data: bytes, name: str, sha: str) -> RawTable | None:
    text = _decode(data, name)
    # Process-wide, idempotent: a cell may be as long as the largest file we accept (cells are capped later).
    csv.field_size_limit(max(csv.field_size_limit(), MAX_FILE_BYTES))
    return _table_from_grid(name, sha, _csv_grid(text))


def _json_str(value: object) -> str:
    """A JSON value as a cell: strings as they are, null as "", numbers / booleans / nested values as JSON."""
    return value if isinstance(value, str) else "" if value is None else json.dumps(value, ensure_ascii=False)


def _read_jsonl(data: bytes, name: str, sha: str) -> RawTable | None:
    objects: list[tuple[int, dict[str, str]]] = []
    rejected: list[RejectedLine] = []
    for number, line in _counted(enumerate(_decode(data, name).split("\n"), start=1)):
        line = line.strip()
        if not line:
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            reason = f"不是有效的 JSON（{exc.msg}，第 {exc.colno} 个字符）"
            rejected.append(RejectedLine(number, reason, line))
            continue
        if not isinstance(value, dict):
            rejected.append(RejectedLine(number, "不是 JSON 对象（每行应为一个 {…} 对象）", line))
        elif not _is_blank(_json_str(v) for v in value.values()):
            objects.append((number, {k: _json_str(v) for k, v in value.items()}))
    return _table_from_objects(name, sha, objects, tuple(rejected))


def _table_from_objects(
    name: str, sha: str, objects: list[tuple[int, dict[str, str]]], rejected: tuple[RejectedLine, ...]
) -> RawTable | None:
    if not objects:
        reason = "没有一行是有效的 JSON 对象（每行应为一个 {…} 对象）" if rejected else "文件没有数据行"
        raise UnreadableFileError(name, reason)
    keys = list(dict.fromkeys(k for _, obj in objects for k in obj))
    if not map_columns(keys).usable:
        return None
    columns = _column_names(keys, len(keys))
    cells = [[obj.get(k, "") for k in keys] for _, obj in objects]
    frame = pd.DataFrame(cells, columns=columns, dtype=str)
    frame[s.SOURCE_ROW] = [n for n, _ in objects]
    return RawTable(name, sha, tuple(keys), frame, rejected)
