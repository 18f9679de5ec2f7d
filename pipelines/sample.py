"""Synthetic 技术需求征集表 (a call for enterprise technology demands) with its ground truth.

`generate_call(n, seed)` returns the call as submitters fill it in and the truth a benchmark needs; `write_call`
writes both. Deterministic for (n, seed). Vocabulary: `sample_vocab`; wording: `sample_text`; submitters:
`sample_enterprise`. Planted structure, as shares of all rows: ~6 % exact re-submissions, ~8 % reworded
re-posts by another enterprise, ~1.5 % hard negatives (same wording, another object: a different need), and
among the rest ~8 % straddling two chains, ~8 % outside the six industries, ~5 % in an industry but no chain.
"""

import math
import random
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Font

from pipelines import sample_vocab as v
from pipelines import schema as s
from pipelines.sample_enterprise import Enterprise, Registry
from pipelines.sample_text import Need, Style, Writer, parse_topic

# --- the call's headers (those of a real 征集表) and the truth's columns -----------------------------------
COL_ID, COL_TITLE, COL_TEXT = "需求编号", "需求名称", "需求描述"
COL_ENTERPRISE, COL_CREDIT_CODE, COL_REGION = "企业名称", "统一社会信用代码", "所在市州"
COL_CONTACT, COL_PHONE, COL_FUNDING = "联系人", "联系电话", "拟投入资金（万元）"
COL_COOP, COL_DEADLINE = "合作方式", "期望完成时间"
CALL_HEADERS = [
    COL_ID, COL_TITLE, COL_TEXT, COL_ENTERPRISE, COL_CREDIT_CODE, COL_REGION, COL_CONTACT, COL_PHONE,
    COL_FUNDING, COL_COOP, COL_DEADLINE,
]  # fmt: skip
CHAIN2_ID, DUP_SET, DUP_KIND, NEED_KEY = "chain2_id", "dup_set", "dup_kind", "need_key"
HARD_NEGATIVE_OF = "hard_negative_of"
TRUTH_COLUMNS = [s.EXTERNAL_ID, s.INDUSTRY_ID, s.CHAIN_ID, CHAIN2_ID, DUP_SET, DUP_KIND, NEED_KEY, HARD_NEGATIVE_OF]
ORIGINAL, EXACT, REWORDED = "original", "exact", "reworded"

EXACT_SHARE, REWORD_SHARE, HARD_NEGATIVE_SHARE = 0.06, 0.08, 0.015
STRADDLE_SHARE, OUTSIDE_SHARE, NO_CHAIN_SHARE = 0.08, 0.08, 0.05
_XLSX_WIDTHS = (15, 36, 80, 34, 22, 12, 10, 15, 14, 12, 14)


@dataclass
class _Row:
    need: Need
    style: Style
    ent: Enterprise
    title: str
    text: str
    meta: tuple[float | None, str, str]  # 拟投入资金 (万元, None = blank), 合作方式, 期望完成时间
    source: int = -1  # the row this one copies (exact / reworded) or mimics (hard negative)
    kind: str = ""  # EXACT / REWORDED; "" for a fresh demand or a hard negative


class _Maker:
    """One synthetic call: the random generator, the topics, the enterprises drawn so far."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.registry = Registry(self.rng)
        groups = v.CHAIN_GROUPS + v.STRADDLE_GROUPS + v.CHAIN_NONE_GROUPS + v.NONE_GROUPS
        self.writer = Writer(self.rng, [parse_topic(g) for g in groups])
        self.by_chain: dict[str, list[int]] = {}
        for i, g in enumerate(v.CHAIN_GROUPS):
            self.by_chain.setdefault(g.chain, []).append(i)
        bounds = [len(v.CHAIN_GROUPS), len(v.STRADDLE_GROUPS), len(v.CHAIN_NONE_GROUPS), len(v.NONE_GROUPS)]
        starts = [sum(bounds[:i]) for i in range(5)]
        self.straddle, self.no_chain, self.outside = (list(range(starts[i], starts[i + 1])) for i in (1, 2, 3))

    def plan(self, n_base: int) -> list[int]:
        """Topic of each distinct demand: every chain once first, then weighted; fixed shares of special topics."""
        n_out, n_none, n_straddle = (round(x * n_base) for x in (OUTSIDE_SHARE, NO_CHAIN_SHARE, STRADDLE_SHARE))
        n_regular = max(0, n_base - n_out - n_none - n_straddle)
        chains = list(self.by_chain)
        self.rng.shuffle(chains)
        weights = [dict(v.CHAIN_WEIGHTS).get(c, 1.0) for c in chains]
        chosen = chains[:n_regular] + self.rng.choices(chains, weights, k=max(0, n_regular - len(chains)))
        topics = [self.rng.choice(self.by_chain[c]) for c in chosen]
        for pool, k in ((self.straddle, n_straddle), (self.no_chain, n_none), (self.outside, n_out)):
            while k > 0:
                topics += self.rng.sample(pool, min(k, len(pool)))
                k -= len(pool)
        self.rng.shuffle(topics)
        return topics[:n_base]

    def run(self, n: int) -> tuple[pd.DataFrame, pd.DataFrame]:
        counts = [round(x * n) if n >= 20 else 0 for x in (EXACT_SHARE, REWORD_SHARE, HARD_NEGATIVE_SHARE)]
        n_base = n - sum(counts)
        rows = [self._fresh(t) for t in self.plan(n_base)]
        for kind, k in zip((EXACT, REWORDED, ""), counts, strict=True):
            rows += [self._copy(rows[src], src, kind) for src in self._sources(rows[:n_base], k)]
        return self._frames(rows, self._order(rows))

    def _sources(self, base: list[_Row], k: int) -> list[int]:
        """`k` rows to copy, drawn per kind of topic in proportion, so that planted shares stay on target."""
        strata: dict[int, list[int]] = {}
        for i, row in enumerate(base):
            kind = sum(row.need.topic >= pool[0] for pool in (self.straddle, self.no_chain, self.outside))
            strata.setdefault(kind, []).append(i)
        out: list[int] = []
        for _, members in sorted(strata.items()):
            out += self.rng.choices(members, k=round(k * len(members) / len(base)))
        return self.rng.sample(out, len(out))[:k] + self.rng.choices(range(len(base)), k=max(0, k - len(out)))

    def _group(self, t: int) -> v.Group:
        return self.writer.topics[t].group

    def _fresh(self, t: int) -> _Row:
        need, style, ent = self.writer.new_need(t), self.writer.new_style(), self.registry.pick(self._group(t))
        return _Row(need, style, ent, *self.writer.render(need, style, ent.facts), self._meta())

    def _copy(self, base: _Row, src: int, kind: str) -> _Row:
        """An exact re-submission, a reworded re-post by another enterprise, or a hard negative (kind "")."""
        rng, w, group = self.rng, self.writer, self._group(base.need.topic)
        if kind == EXACT:  # verbatim, by the same enterprise or e.g. a sister company, re-typed at most
            ent = base.ent if rng.random() < 0.55 else self.registry.pick(group, avoid=base.ent)
            title = w.perturb(base.title) if rng.random() < 0.3 else base.title
            return _Row(base.need, base.style, ent, title, w.perturb(base.text), base.meta, src, EXACT)
        if kind == REWORDED:
            ent = self.registry.pick(group, avoid=base.ent)
            need, style = w.reword(base.need, base.style)
            return _Row(need, style, ent, *w.render(need, style, ent.facts), self._meta(), src, REWORDED)
        siblings = [o for o in range(len(w.topics[base.need.topic].fields["objects"])) if o != base.need.obj]
        need = replace(base.need, obj=rng.choice(siblings))
        ent = base.ent if rng.random() < 0.5 else self.registry.pick(group, avoid=base.ent)
        return _Row(need, base.style, ent, *w.render(need, base.style, ent.facts), self._meta(), src, "")

    def _meta(self) -> tuple[float | None, str, str]:
        """(拟投入资金 in 万元 or None, 合作方式, 期望完成时间)."""
        rng = self.rng
        funding: float | None = None
        if rng.random() > 0.12:
            x = min(max(math.exp(rng.gauss(math.log(120), 0.9)), 5.0), 5000.0)
            step = 5 if x < 200 else 10
            funding = round(x, 1) if rng.random() < 0.04 else float(max(step, round(x / step) * step))
        coop = rng.choices(v.COOP_MODES, v.COOP_WEIGHTS)[0]
        y, m = rng.randint(2026, 2029), rng.randint(1, 12)
        y += y == 2026 and m < 7  # a deadline lies in the future of the 2026 call
        form = rng.choices(v.DEADLINE_FORMS, (40, 25, 15, 10, 10))[0]
        months = rng.choice((6, 12, 18, 24, 36))
        return funding, coop, form.format(y=y, m=m, mm=f"{m:02d}", k=rng.randint(1, 3), months=months)

    def _order(self, rows: list[_Row]) -> list[int]:
        """Row indices in file order: shuffled, except that each duplicate set's original comes first."""
        order = list(range(len(rows)))
        self.rng.shuffle(order)
        slot = [0] * len(rows)
        for p, r in enumerate(order):
            slot[r] = p
        sets: dict[int, list[int]] = {}
        for i, row in enumerate(rows):
            if row.kind:
                sets.setdefault(row.source, [row.source]).append(i)
        for members in sets.values():
            for m, p in zip(members, sorted(slot[m] for m in members), strict=True):
                order[p] = m
        return order

    def _frames(self, rows: list[_Row], order: list[int]) -> tuple[pd.DataFrame, pd.DataFrame]:
        ids, num = [""] * len(rows), 0
        for r in order:  # numbered in file order, with the odd gap of a withdrawn submission
            num += 1 + (self.rng.random() < 0.04)
            ids[r] = f"XQ2026-{num:06d}"
        roots = {row.source for row in rows if row.kind}
        set_names: dict[int, str] = {}
        call, truth = [], []
        for r in order:
            row, topic = rows[r], self.writer.topics[rows[r].need.topic]
            root = row.source if row.kind else r if r in roots else -1
            dup_set = set_names.setdefault(root, f"DS{len(set_names) + 1:04d}") if root >= 0 else ""
            region, ent = row.ent.region, row.ent
            region_text = region.name if self.rng.random() < 0.82 else self.rng.choice(region.variants)
            call.append((ids[r], row.title, row.text, ent.name, ent.code, region_text, ent.contact, ent.phone,
                         *row.meta))  # fmt: skip
            kind = row.kind or (ORIGINAL if root >= 0 else "")
            hard_of = ids[row.source] if row.source >= 0 and not row.kind else ""
            key = topic.need_key(row.need.obj, row.need.proc)
            g = topic.group
            truth.append((ids[r], topic.industry, g.chain, g.chain2, dup_set, kind, key, hard_of))
        call_frame = pd.DataFrame(call, columns=CALL_HEADERS)
        call_frame[COL_FUNDING] = call_frame[COL_FUNDING].astype(float)
        return call_frame, pd.DataFrame(truth, columns=TRUTH_COLUMNS)


def generate_call(n: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(call, truth) of a synthetic call with `n` demands, deterministic for (n, seed).

    call: one row per demand, columns `CALL_HEADERS` (the Chinese headers of a real 技术需求征集表); 拟投入资金
    （万元） is float 万元, NaN when left blank; every other column is str.
    truth: one row per demand, columns `TRUTH_COLUMNS`: external_id (= 需求编号); industry_id (EI EM FT EC AM MH
    or NONE); chain_id (or NONE); chain2_id ("" if none); dup_set ("" or an id shared by an original and its
    planted copies); dup_kind ("", original, exact, reworded); need_key ("chain:object/process" of the underlying
    need, in canonical words: shared by copies, and also by independent demands about the same thing);
    hard_negative_of (for a hard negative, the external_id of the demand whose wording it reuses for another
    object; the two never share a dup_set).
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    return _Maker(seed).run(n)


def _funding_cell(x: float) -> int | float | None:
    if pd.isna(x):
        return None
    return int(x) if float(x).is_integer() else float(x)


def _write_xlsx(call: pd.DataFrame, out: Path) -> None:
    """One sheet, header row in bold, 需求描述 wrapped; write-only mode so that 100 000 rows stay fast."""
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("技术需求征集表")
    for i, width in enumerate(_XLSX_WIDTHS):
        ws.column_dimensions[chr(ord("A") + i)].width = width
    header = [WriteOnlyCell(ws, value=name) for name in CALL_HEADERS]
    for cell in header:
        cell.font = Font(bold=True)
    ws.append(header)
    wrap = Alignment(wrap_text=True, vertical="top")
    text_at, fund_at = CALL_HEADERS.index(COL_TEXT), CALL_HEADERS.index(COL_FUNDING)
    for values in call[CALL_HEADERS].itertuples(index=False, name=None):
        row: list[object] = list(values)
        row[fund_at] = _funding_cell(values[fund_at])
        text = WriteOnlyCell(ws, value=values[text_at])
        text.alignment = wrap
        row[text_at] = text
        ws.append(row)
    wb.save(out)


def write_call(call: pd.DataFrame, truth: pd.DataFrame, out: Path) -> Path:
    """Write `call` to `out` (.xlsx, or .csv in UTF-8 with BOM, by extension) and `truth` beside it as
    `<stem>-truth.csv` (UTF-8; read it with keep_default_na=False so "" stays ""); return the truth path."""
    suffix = out.suffix.lower()
    if suffix not in (".xlsx", ".csv"):
        shown = out.suffix or "无扩展名"
        raise ValueError(f"无法写出 {out.name}：不支持的文件类型“{shown}”，请改用 .xlsx 或 .csv 扩展名。")
    out.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".xlsx":
        _write_xlsx(call, out)
    else:
        funding = ["" if f is None else str(f) for f in map(_funding_cell, call[COL_FUNDING])]
        call.assign(**{COL_FUNDING: funding}).to_csv(out, index=False, encoding="utf-8-sig")
    truth_path = out.with_name(f"{out.stem}-truth.csv")
    truth.to_csv(truth_path, index=False, encoding="utf-8")
    return truth_path
