"""Chain leads' corrections of the industry / chain mapping, and the human decisions they make.

Each reviewer has at most one current proposal per demand (table `corrections`); correcting again replaces one's
own proposal. A demand's human decision (table `human_mapping`) is the value its proposals agree on. When two
reviewers disagree, the demand goes on the arbitration list and keeps its previous value until they agree or an
arbiter decides (an arbiter's latest decision settles every proposal made before it). Human decisions win over
the pipeline: `keep_human_decisions` makes `Library.save_call` store them instead of the automated mapping, and
`apply_human_decisions` does the same to a frame about to be reported.
"""

import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from . import migrations as m
from . import schema as s
from .settings import MappingConfig
from .taxonomy import INDUSTRY_IDS, Taxonomy, load_taxonomy

REVIEWER_ROLE, ARBITER_ROLE = "reviewer", "arbiter"
CORRECTION_KIND, CONFIRMATION_KIND, CONFLICT_KIND = "correction", "confirmation", "conflict"
HUMAN_EVIDENCE_PREFIX = "人工更正："
HUMAN_COLUMNS = [s.DEMAND_ID, s.INDUSTRY_ID, s.CHAIN_ID, m.REVIEWER, m.AT, s.INDUSTRY, s.CHAIN, m.NOTE]
CURRENT_INDUSTRY_ID, CURRENT_CHAIN_ID = "current_industry_id", "current_chain_id"
ARBITRATION_COLUMNS = [
    *(s.DEMAND_ID, s.CALL_ID, s.EXTERNAL_ID, s.TITLE, CURRENT_INDUSTRY_ID, CURRENT_CHAIN_ID),
    *(m.REVIEWER, m.ROLE, s.INDUSTRY_ID, s.CHAIN_ID, m.NOTE, s.SOURCE_FILE, s.SOURCE_ROW, m.AT),
]


@dataclass(frozen=True)
class Problem:
    """An invalid correction row: where it is and why it was not applied (Chinese)."""

    source_file: str
    source_row: int
    column: str
    reason: str

    def __str__(self) -> str:
        where = f"文件 {self.source_file}" if self.source_file else "更正"
        where += f" 第 {self.source_row} 行" if self.source_row else ""
        return f"{where}{' ' + self.column if self.column else ''}：{self.reason}"


@dataclass(frozen=True)
class Correction:
    """One reviewer's decision on one demand (a confirmation is a correction to the value shown).

    `labels` names the source columns for messages (field -> e.g. "“更正产业链编号”列（T）"); an empty
    industry_id is taken from the chain. `arbiter` marks an arbitration decision.
    """

    demand_id: str
    industry_id: str
    chain_id: str
    reviewer: str
    note: str = ""
    source_file: str = ""
    source_row: int = 0
    arbiter: bool = False
    labels: Mapping[str, str] = field(default_factory=dict)

    @property
    def role(self) -> str:
        return ARBITER_ROLE if self.arbiter else REVIEWER_ROLE

    def problem(self, column: str, reason: str) -> Problem:
        return Problem(self.source_file, self.source_row, self.labels.get(column, column), reason)


@dataclass
class CorrectionReport:
    """What an import did: rows applied, validly skipped, sent to arbitration, and the invalid ones."""

    applied: int = 0  # rows whose value became the demand's human decision
    skipped: int = 0  # rows identical to the reviewer's earlier correction or to the current human decision
    conflicts: int = 0  # rows disagreeing with another reviewer: the demand is on the arbitration list
    events: int = 0
    problems: list[Problem] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)  # demand ids whose stored mapping changed
    disputed: list[str] = field(default_factory=list)  # demand ids sent to arbitration

    def merge(self, other: "CorrectionReport") -> None:
        self.applied, self.skipped = self.applied + other.applied, self.skipped + other.skipped
        self.conflicts, self.events = self.conflicts + other.conflicts, self.events + other.events
        self.problems += other.problems
        self.changed += other.changed
        self.disputed += other.disputed


class Proposal(NamedTuple):
    reviewer: str
    role: str
    industry_id: str
    chain_id: str
    note: str
    at: str


def decide(proposals: Sequence[Proposal]) -> Proposal | None:
    """The decision the current proposals on one demand make, or None when they disagree (arbitration).

    Without an arbiter all proposals must agree (reviewer: their names joined with "、", at: the latest).
    The latest arbiter decision wins over every proposal made before it; a later, different one reopens it.
    """
    if not proposals:
        return None
    rulings = [p for p in proposals if p.role == ARBITER_ROLE]
    if rulings:
        ruling = max(rulings, key=lambda p: p.at)
        later = [p for p in proposals if p.role != ARBITER_ROLE and p.at > ruling.at]
        return ruling if all(same_mapping(p, ruling) for p in later) else None
    if any(not same_mapping(p, proposals[0]) for p in proposals):
        return None
    ordered = sorted(proposals, key=lambda p: p.at)
    names = "、".join(dict.fromkeys(p.reviewer for p in ordered))
    return ordered[-1]._replace(reviewer=names)


def same_mapping(a: Proposal | Correction, b: Proposal | Correction) -> bool:
    """Same industry and chain."""
    return (a.industry_id, a.chain_id) == (b.industry_id, b.chain_id)


def default_taxonomy(config: MappingConfig | None = None) -> Taxonomy:
    """The taxonomy corrections are checked against: the mapping config's files (default: the shipped one)."""
    config = config or MappingConfig()
    return load_taxonomy(config.taxonomy, config.extra_taxonomies)


# --- validation -------------------------------------------------------------------------------------------
def check_correction(row: Correction, taxonomy: Taxonomy) -> Correction | Problem:
    """The row with canonical ids (case-insensitive; industry from the chain when empty), or why it is invalid."""
    if not row.reviewer.strip():
        return row.problem(m.REVIEWER, "缺少审核人，请填写审核人姓名")
    industries = {i.upper(): i for i in (*INDUSTRY_IDS, s.NONE)}
    chains = {c.id.upper(): c.id for c in taxonomy.chains} | {s.NONE: s.NONE}
    industry, chain = row.industry_id.strip(), row.chain_id.strip()
    if industry and industry.upper() not in industries:
        return row.problem(s.INDUSTRY_ID, f"未知产业编号“{industry}”（可选：{'、'.join(industries.values())}）")
    if chain and chain.upper() not in chains:
        return row.problem(s.CHAIN_ID, f"未知产业链编号“{chain}”，请从下拉列表或“说明”表的编号对照中选择")
    industry, chain = industries.get(industry.upper(), ""), chains.get(chain.upper(), "")
    if not chain and industry == s.NONE:
        chain = s.NONE
    if not chain:
        return row.problem(s.CHAIN_ID, "缺少产业链编号（属于该产业但不属于任何重点产业链时填 NONE）")
    if not industry:
        if chain == s.NONE:
            return row.problem(s.INDUSTRY_ID, "产业链为 NONE 时请填写产业编号（六大产业之外填 NONE）")
        industry = taxonomy.chain(chain).industry_id
    if not taxonomy.is_valid(industry, chain):
        owner = "六大产业之外" if chain == s.NONE else f"产业 {taxonomy.chain(chain).industry_id}"
        reason = f"产业 {industry} 与产业链 {chain} 不匹配（{chain} 属于{owner}）"
        return row.problem(s.CHAIN_ID, reason + "，请更正其一")
    return replace(row, industry_id=industry, chain_id=chain, reviewer=row.reviewer.strip(), note=row.note.strip())


# --- human decisions in frames ----------------------------------------------------------------------------
def human_evidence(reviewer: str, at: str) -> str:
    return f"{HUMAN_EVIDENCE_PREFIX}{reviewer} {at[:10]}"


def human_values(human: Mapping[Any, Any], taxonomy: Taxonomy | None = None) -> dict[str, Any]:
    """The demand columns a human decision (a `human_mapping` row) sets: ids, names, evidence, no review."""
    industry, chain = str(human[s.INDUSTRY_ID]), str(human[s.CHAIN_ID])
    names = {s.INDUSTRY: human.get(s.INDUSTRY) or industry, s.CHAIN: human.get(s.CHAIN) or chain}
    if taxonomy is not None:
        with contextlib.suppress(KeyError):  # an id the taxonomy no longer has: keep the recorded names
            names = {s.INDUSTRY: taxonomy.industry_name(industry), s.CHAIN: taxonomy.chain_name(chain)}
    evidence = human_evidence(str(human.get(m.REVIEWER) or ""), str(human.get(m.AT) or ""))
    return {s.INDUSTRY_ID: industry, s.CHAIN_ID: chain, **names, s.EVIDENCE: evidence}


def apply_human_decisions(demands: pd.DataFrame, human: pd.DataFrame, taxonomy: Taxonomy | None = None) -> pd.DataFrame:
    """A new frame in which every demand with a human decision shows it instead of the automated mapping.

    Input: `demands` with demand_id (any of industry_id, industry, chain_id, chain, evidence, needs_review,
    review_reason are replaced when present; ids are added when absent); `human` as `Library.human_mappings()`
    returns it (demand_id, industry_id, chain_id, reviewer, at; optional industry / chain names). Names come
    from `taxonomy` when given, else from `human`. Evidence becomes "人工更正：<reviewer> <YYYY-MM-DD>",
    needs_review False, review_reason "". Confidence columns are left as the mapper gave them.
    """
    out = demands.copy()
    if human.empty or out.empty:
        return out
    s.require_columns(human, [s.DEMAND_ID, s.INDUSTRY_ID, s.CHAIN_ID], "apply_human_decisions")
    decided = human.drop_duplicates(s.DEMAND_ID, keep="last").set_index(s.DEMAND_ID, drop=False)
    mask = out[s.DEMAND_ID].isin(decided.index)
    if not mask.any():
        return out
    values = [human_values(row, taxonomy) for row in decided.loc[out.loc[mask, s.DEMAND_ID]].to_dict("records")]
    for column in (s.INDUSTRY_ID, s.CHAIN_ID, s.INDUSTRY, s.CHAIN, s.EVIDENCE):
        if column in out.columns or column in (s.INDUSTRY_ID, s.CHAIN_ID):
            if column not in out.columns:
                out[column] = pd.Series(None, index=out.index, dtype=object)
            out[column] = out[column].astype(object)
            out.loc[mask, column] = [v[column] for v in values]
    if s.NEEDS_REVIEW in out.columns:
        out[s.NEEDS_REVIEW] = out[s.NEEDS_REVIEW].fillna(False).astype(bool).where(~mask, False)
    if s.REVIEW_REASON in out.columns:
        out[s.REVIEW_REASON] = out[s.REVIEW_REASON].astype(object)
        out.loc[mask, s.REVIEW_REASON] = ""
    return out


def keep_human_decisions(conn: Connection, records: list[dict[str, Any]], present: Sequence[str]) -> None:
    """`Library.save_call`'s guard, in its transaction: a demand with a human decision keeps it.

    `records` are save_call's stored-value dicts (columns `present`, plus "_evidence"); for every demand in
    `human_mapping` its ids, evidence, needs_review (0) and review_reason ("") replace the pipeline's values
    wherever the frame carries those columns, so an unchanged human value produces no event.
    """
    if s.INDUSTRY_ID not in present and s.CHAIN_ID not in present:
        return
    rows = m.select_in(conn, m.HUMAN_MAPPING, m.DEMAND_REF, [r[s.DEMAND_ID] for r in records])
    decided = {row[m.DEMAND_REF]: row for row in rows}
    for record in records:
        human = decided.get(record[s.DEMAND_ID])
        if human is None:
            continue
        values = human_values(human) | {s.NEEDS_REVIEW: False, s.REVIEW_REASON: ""}
        for column, value in values.items():
            if column in present:
                record[column] = m.db_value(value, m.DEMAND_NUMERIC.get(column, sa.Text))
        record["_evidence"][s.EVIDENCE] = values[s.EVIDENCE]
