"""Erasing a person's data from the library on request, and recording that it was done.

A person is identified by name and/or phone number / e-mail. Every demand whose contact fields hold them loses
them, and every occurrence in its texts (title, description, evidence) and in quarantined raw rows is masked. The
erasure is an event naming who erased, when, how many rows changed and why, with a salted hash of the identifiers
instead of the identifiers themselves, so the trail never re-creates what was erased.
"""

import hashlib
import re
import secrets
from dataclasses import dataclass

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from . import migrations as m
from . import schema as s
from .index_store import drop_index_entries
from .privacy import mask_name

ERASURE_KIND = "erasure"
_TEXT_COLUMNS = (s.TITLE, s.TEXT, s.EVIDENCE, s.ENTERPRISE)


@dataclass(frozen=True)
class ErasureReport:
    demands: int
    quarantined_rows: int
    fingerprint: str


def _pattern(needle: str) -> re.Pattern[str]:
    """A phone number matches with or without separators between its digits; anything else literally."""
    digits = re.sub(r"\D", "", needle)
    if len(digits) >= 7 and len(digits) >= len(needle) - 4:
        return re.compile(r"[-\s]?".join(digits))
    return re.compile(re.escape(needle))


def _mask_identifiers(text: str, needles: list[str]) -> str:
    for needle in needles:
        masked = mask_name(needle) if not any(ch.isdigit() or ch == "@" for ch in needle) else "*" * len(needle)
        text = _pattern(needle).sub(masked, text)
    return text


class ErasureMixin:
    """Library method `erase_person` (the Library provides `_ready`)."""

    def _ready(self) -> Engine:  # pragma: no cover - pipelines.store.Library overrides it
        raise NotImplementedError

    def erase_person(self, name: str, contacts: tuple[str, ...], by: str, reason: str) -> ErasureReport:
        """Remove `name` and `contacts` (phones, e-mails) from every demand and quarantined row, in ONE transaction."""
        needles = [n.strip() for n in (name, *contacts) if n and len(n.strip()) >= 2]
        if not needles:
            raise ValueError("erase_person: give a name or a phone number / e-mail of at least two characters")
        if not by.strip():
            raise ValueError("erase_person: who erases (by) is required")
        salt = secrets.token_hex(8)
        fingerprint = salt + ":" + hashlib.sha256((salt + "|".join(sorted(needles))).encode()).hexdigest()[:16]
        d, q = m.DEMANDS, m.QUARANTINE
        with self._ready().begin() as conn:
            every = pd.DataFrame(conn.execute(sa.select(d)).mappings().all(), columns=list(d.c.keys()))
            looked = every[[*_TEXT_COLUMNS, s.CONTACT, s.PHONE]].fillna("").astype(str).agg(" ".join, axis=1)
            rows = every[[any(_pattern(n).search(t) for n in needles) for t in looked]]
            for row in rows.to_dict("records"):
                values = {c: _mask_identifiers(str(row[c]), needles) for c in _TEXT_COLUMNS if row.get(c)}
                contact, phone = str(row.get(s.CONTACT) or ""), str(row.get(s.PHONE) or "")
                if any(_pattern(n).search(contact) for n in needles):
                    values[s.CONTACT] = ""
                if any(_pattern(n).search(phone) for n in needles):
                    values[s.PHONE] = ""
                conn.execute(sa.update(d).where(d.c.demand_id == row[s.DEMAND_ID]).values(values))
            drop_index_entries(conn, rows[s.DEMAND_ID].astype(str).tolist())  # masked text: indexed again next run
            stored = conn.execute(sa.select(q.c.call_id, q.c.source_file, q.c.source_row, q.c.column_name, q.c.raw))
            raws = [r for r in stored.all() if any(_pattern(n).search(str(r.raw or "")) for n in needles)]
            for call_id, source_file, source_row, column, raw in raws:
                key = (q.c.call_id == call_id) & (q.c.source_file == source_file)
                key &= (q.c.source_row == source_row) & (q.c.column_name == column)
                conn.execute(sa.update(q).where(key).values(raw=_mask_identifiers(str(raw), needles)))
            conn.execute(
                m.EVENTS.insert().values(
                    at=m.now_utc(), run_id=None, call_id=None, demand_id=None, kind=ERASURE_KIND, actor=by,
                    field="personal_data", old_value=fingerprint, new_value=None,
                    evidence=f"应本人要求删除个人信息：需求 {len(rows)} 条、隔离记录 {len(raws)} 行。{reason}".strip(),
                )
            )  # fmt: skip
        return ErasureReport(len(rows), len(raws), fingerprint)
