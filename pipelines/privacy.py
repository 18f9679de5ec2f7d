"""Personal data in demands: contact names, phone numbers, e-mail addresses and ID numbers.

The library keeps them (staff must be able to call an enterprise back); reports meant for circulation mask them
(`ningliang run ... --share`). A row's contact name is masked wherever it appears in that row, free text included,
and "联系人：<name>" in free text is found even when the contact column is empty. Masks keep just enough to tell
entries apart (surname, last four digits, mail domain), never the whole value.

ID numbers are recognised by their structure (region, a real birth date, the ISO 7064 check digit), so an
18-character 统一社会信用代码 or a long product number is not mistaken for one.
"""

import datetime as dt
import re
from collections.abc import Iterable, Sequence

import pandas as pd

_MOBILE_RE = re.compile(r"(?<![\dA-Za-z])(?:(?:\+|00)?86[-\s]?)?1[3-9]\d(?:[-\s]?\d{4}){2}(?![\dA-Za-z])")
_LANDLINE_RE = re.compile(
    r"(?<![\dA-Za-z])(?:\(0\d{2,3}\)|（0\d{2,3}）|0\d{2,3})[-－\s]?\d{3,4}[-\s]?\d{4}(?:[-－转]\d{1,5})?(?!\d)"
)
_EMAIL_RE = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_ID18_RE = re.compile(r"(?<![\dA-Za-z])[1-9]\d{5}(?:18|19|20)\d{2}\d{2}\d{2}\d{3}[\dXx](?![\dA-Za-z])")
_ID15_RE = re.compile(r"(?<![\dA-Za-z])[1-9]\d{5}\d{2}\d{2}\d{2}\d{3}(?![\dA-Za-z])")
_CONTACT_RE = re.compile(
    r"(?:联系人|负责人|联络人|对接人)\s*[:：]?\s*([\u4e00-\u9fa5·]{2,4}?)(?=[\s，,。；;、(（:：]|电话|手机|$)"
)
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"


def id_checksum_ok(number: str) -> bool:
    """An 18-digit resident ID number's check digit and birth date are valid."""
    if len(number) != 18:
        return False
    total = sum(int(d) * w for d, w in zip(number[:17], _WEIGHTS, strict=True))
    return _CHECK[total % 11] == number[17].upper() and _valid_date(number[6:14])


def _valid_date(yyyymmdd: str) -> bool:
    try:
        day = dt.date(int(yyyymmdd[:4]), int(yyyymmdd[4:6]), int(yyyymmdd[6:8]))
    except ValueError:
        return False
    return dt.date(1900, 1, 1) <= day <= dt.date.today()


def _digits_mask(match: re.Match[str]) -> str:
    text = match.group(0)
    digits = [i for i, ch in enumerate(text) if ch.isdigit()]
    keep = set(digits[-4:])
    return "".join("*" if ch.isdigit() and i not in keep else ch for i, ch in enumerate(text))


def _email_mask(match: re.Match[str]) -> str:
    local, _, domain = match.group(0).partition("@")
    return f"{local[:1]}***@{domain}"


def _id_mask(match: re.Match[str]) -> str:
    text = match.group(0)
    if len(text) == 18 and not id_checksum_ok(text):
        return text  # a credit code or product number of the same shape
    if len(text) == 15 and not _valid_date("19" + text[6:12]):
        return text
    return text[:2] + "*" * (len(text) - 4) + text[-2:]


def mask_name(name: str) -> str:
    name = name.strip()
    return name[:1] + "*" * max(1, len(name) - 1) if name else ""


def names_in(text: str) -> list[str]:
    """Names written after 联系人 / 负责人 ... in free text."""
    return [m.group(1) for m in _CONTACT_RE.finditer(text)]


def mask_text(text: str, names: Iterable[str] = ()) -> str:
    """`text` with ID numbers, e-mail addresses, phone numbers and the given names (and any written after
    联系人：) masked. Empty stays empty."""
    if not text:
        return text
    text = _ID18_RE.sub(_id_mask, text)
    text = _ID15_RE.sub(_id_mask, text)
    text = _EMAIL_RE.sub(_email_mask, text)
    text = _MOBILE_RE.sub(_digits_mask, text)
    text = _LANDLINE_RE.sub(_digits_mask, text)
    for name in sorted({n.strip() for n in [*names, *names_in(text)] if len(n.strip()) >= 2}, key=len, reverse=True):
        text = text.replace(name, mask_name(name))
    return text


def mask_frame(frame: pd.DataFrame, name_columns: Sequence[str] = ("contact",)) -> pd.DataFrame:
    """Every text cell masked; each row's names (its `name_columns` values and names after 联系人：in any of its
    cells) masked in every cell of that row."""
    text_columns = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
    out = frame.copy()
    for index, row in frame[text_columns].iterrows():
        cells = {c: v for c, v in row.items() if isinstance(v, str) and v}
        names = [str(row[c]) for c in name_columns if c in row and isinstance(row[c], str)]
        names += [n for v in cells.values() for n in names_in(v)]
        for column, value in cells.items():
            out.at[index, column] = mask_text(value, names)
    return out
