"""Neutralise input-derived text before it reaches a spreadsheet, a CSV file or a file name.

Spreadsheet programs run a cell that starts with "=", "+", "-", "@" (and, after a tab or carriage return,
whatever follows) as a formula. Every text field we export is passed through `safe_text`, which puts a
leading "'" in front of such values; numbers are numbers and stay untouched (a cell that parses entirely as
a number cannot carry a formula). Nothing here touches disk.
"""

import math
import numbers
import re
import unicodedata

import numpy as np
import pandas as pd

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
NEUTRALISER = "'"

_SEPARATORS = re.compile(r"[/\\]+")
_RESERVED = re.compile(r'[<>:"|?*]')
_WINDOWS_DEVICES = frozenset(
    {"CON", "PRN", "AUX", "NUL"} | {f"COM{i}" for i in range(1, 10)} | {f"LPT{i}" for i in range(1, 10)}
)
_MAX_NAME_BYTES = 200
_FALLBACK_NAME = "unnamed"


def is_missing(value: object) -> bool:
    """True for None, NaN, pd.NA and NaT: the values that export as an empty field."""
    if type(value) is str:  # the common case, checked first: ABC isinstance checks are slow
        return False
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral):
        return math.isnan(value)
    return isinstance(value, np.datetime64) and bool(np.isnat(value))


def safe_text(value: object) -> str:
    """Text for one exported field: missing -> ""; a formula-like string gets a leading "'".

    Real numbers (not bools) are returned as `str(value)` unchanged; any other value is `str()`-ed and then
    neutralised like a string, so an object whose text starts with "=" cannot slip through.
    """
    if type(value) is str:
        text = value
    elif is_missing(value):
        return ""
    elif isinstance(value, numbers.Real) and not isinstance(value, bool):
        return str(value)
    else:
        text = str(value)
    if text and text[0] in FORMULA_PREFIXES:
        return NEUTRALISER + text
    return text


def safe_frame(df: pd.DataFrame) -> pd.DataFrame:
    """A new frame whose object/string columns went through `safe_text` (missing -> "").

    Numeric, boolean and datetime columns are returned untouched: they hold numbers, not text.
    """
    out = df.copy()
    for column in out.columns:
        series = out[column]
        if pd.api.types.is_object_dtype(series.dtype) or pd.api.types.is_string_dtype(series.dtype):
            out[column] = series.map(safe_text).astype(object)
    return out


def safe_filename(name: str) -> str:
    """A plain file name derived from input: no path separators, no "..", no control characters, non-empty.

    Separators split the name into parts; empty, "." and ".." parts are dropped and the rest joined with "_".
    Characters Windows reserves become "_", leading/trailing dots and spaces go, and the result is cut to at
    most 200 UTF-8 bytes (keeping a short extension).
    """
    cleaned = "".join(ch for ch in str(name) if not unicodedata.category(ch).startswith("C"))
    parts = [p.strip() for p in _SEPARATORS.split(cleaned)]
    joined = "_".join(p for p in parts if p not in ("", ".", ".."))
    joined = _RESERVED.sub("_", joined)
    while ".." in joined:
        joined = joined.replace("..", ".")
    joined = joined.strip(" .")
    if joined.split(".")[0].upper() in _WINDOWS_DEVICES:
        joined = "_" + joined
    joined = _truncate_bytes(joined, _MAX_NAME_BYTES).strip(" .")
    return joined or _FALLBACK_NAME


def _truncate_bytes(name: str, limit: int) -> str:
    """Cut `name` to at most `limit` UTF-8 bytes, keeping an extension of up to 16 characters."""
    if len(name.encode("utf-8")) <= limit:
        return name
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem or len(ext) > 16:
        stem, ext = name, ""
    suffix = f".{ext}" if ext else ""
    budget = limit - len(suffix.encode("utf-8"))
    kept = stem.encode("utf-8")[:budget].decode("utf-8", errors="ignore")
    return kept + suffix
