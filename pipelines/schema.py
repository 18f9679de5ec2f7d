"""Column names of the frames that flow between stages, and of the machine exports.

The export column lists are a contract: later versions add columns, never rename or remove one.
"""

from collections.abc import Iterable

import pandas as pd

# --- canonical demand record (after ingest) -------------------------------------------------------
DEMAND_ID = "demand_id"  # "D" + 16 hex chars; stable across runs and row orders (see ingest.demand_id)
CALL_ID = "call_id"
EXTERNAL_ID = "external_id"  # the submitter's own 需求编号, as given ("" when absent)
SOURCE_FILE = "source_file"  # file name only, never a path
SOURCE_ROW = "source_row"  # row number as the user sees it in the file (spreadsheet row, or JSONL line)
TITLE = "title"
TEXT = "text"
ENTERPRISE = "enterprise"
CREDIT_CODE = "credit_code"  # 统一社会信用代码: the enterprise's identity when given
REGION = "region"  # one of Sichuan's 21 市州, or the raw value when it is not one
CONTACT = "contact"
PHONE = "phone"
FUNDING = "funding_wan"  # 拟投入资金, in 万元 (float, NaN when absent or unreadable)
COOP_MODE = "coop_mode"
DEADLINE = "deadline"
FLAGS = "flags"  # ";"-joined flag codes, see ingest.FLAG_LABELS
CONTENT_HASH = "content_hash"

# --- text stages ----------------------------------------------------------------------------------
NORM_TITLE = "norm_title"
NORM_TEXT = "norm_text"
CORE_TEXT = "core_text"  # title + body with form boilerplate removed: what dedup and mapping read
TOKENS = "tokens"  # space-joined segmented terms of core_text, stopwords removed
TITLE_TOKENS = "title_tokens"  # the same for the title alone: where a demand names its object

# --- duplicates -----------------------------------------------------------------------------------
DUPLICATE_GROUP = "duplicate_group"  # "G" + smallest member demand_id's hex; "" for a demand with no duplicate
DUPLICATE_KIND = "duplicate_kind"  # exact / near / reworded / "" (no duplicate)
DUPLICATE_SCORE = "duplicate_score"  # similarity to the group representative in [0, 1]
DUPLICATE_OF = "duplicate_of"  # the group representative's demand_id ("" for the representative itself)
DUPLICATE_REASON = "duplicate_reason"

# --- mapping --------------------------------------------------------------------------------------
INDUSTRY_ID = "industry_id"
INDUSTRY = "industry"
CHAIN_ID = "chain_id"
CHAIN = "chain"
CONFIDENCE = "confidence"  # chain-level confidence in [0, 1]
INDUSTRY_CONFIDENCE = "industry_confidence"
EVIDENCE = "evidence"  # human-readable Chinese evidence
ALTERNATIVES = "alternatives"  # "CHAIN_ID:score;..." top-3 other candidates
SECONDARY_CHAIN_ID = "secondary_chain_id"
NEEDS_REVIEW = "needs_review"
REVIEW_REASON = "review_reason"

# --- clusters -------------------------------------------------------------------------------------
CLUSTER_ID = "cluster_id"  # "C" + smallest member demand_id's hex
CLUSTER_LABEL = "cluster_label"
NEAREST_CLUSTER = "nearest_cluster"  # for a demand in no cluster: the closest cluster (own chain first), else ""
NEAREST_CLUSTER_SIMILARITY = "nearest_cluster_similarity"  # cosine to that cluster's centroid in [-1, 1]
CLUSTER_GROUP = "cluster_group"  # "K" + smallest member demand_id's hex: clusters of a chain grouped one level up
CLUSTER_GROUP_LABEL = "cluster_group_label"  # the group's distinctive terms (c-TF-IDF), "、"-joined; "" when none

NONE = "NONE"

ENTRY_ID = "entry_id"  # the cluster id, or the duplicate group id, or "S" + demand hex for a singleton
DEMAND_STATUS = "demand_status"  # "withdrawn" when staff withdrew the demand, else ""
LINKED_DEMAND_ID = "linked_demand_id"  # the first submitted earlier demand of the same need ("" if none)
FIRST_CALL = "first_call"  # that demand's call
RECURRING = "recurring"  # bool: the need was raised in an earlier call
HISTORY = "history"  # "call：enterprise、...；call：..." every call and enterprise that asked, this call included

DEMANDS_EXPORT_COLUMNS = [
    DEMAND_ID,
    EXTERNAL_ID,
    CALL_ID,
    SOURCE_FILE,
    SOURCE_ROW,
    TITLE,
    TEXT,
    ENTERPRISE,
    CREDIT_CODE,
    REGION,
    FUNDING,
    COOP_MODE,
    DEADLINE,
    INDUSTRY_ID,
    INDUSTRY,
    CHAIN_ID,
    CHAIN,
    CONFIDENCE,
    INDUSTRY_CONFIDENCE,
    EVIDENCE,
    ALTERNATIVES,
    SECONDARY_CHAIN_ID,
    NEEDS_REVIEW,
    REVIEW_REASON,
    FLAGS,
    DUPLICATE_GROUP,
    DUPLICATE_KIND,
    DUPLICATE_SCORE,
    DUPLICATE_OF,
    DUPLICATE_REASON,
    CLUSTER_ID,
    CLUSTER_LABEL,
    NEAREST_CLUSTER,
    NEAREST_CLUSTER_SIMILARITY,
    CLUSTER_GROUP,
    CLUSTER_GROUP_LABEL,
    ENTRY_ID,  # the draft-list entry after staff decisions (split / merge)
    DEMAND_STATUS,
    LINKED_DEMAND_ID,
    FIRST_CALL,
    RECURRING,
    HISTORY,
    "incomplete_reason",  # completeness: what the enterprise should add ("" when complete)
]

CLUSTERS_EXPORT_COLUMNS = [
    CLUSTER_ID,
    "industry_id",
    "chain_id",
    "chain",
    "label",
    "size",
    "n_enterprises",
    "n_duplicate_groups",
    "representative_id",
    "representative_title",
    "member_ids",
    CLUSTER_GROUP,  # the coarser group the cluster lies in
    CLUSTER_GROUP_LABEL,
]

# one row per input file of a call (ingest summary, report and manifest)
FILES_COLUMNS = ["file_name", "sha256", "rows_read", "accepted", "quarantined", "error"]

QUARANTINE_EXPORT_COLUMNS = [
    CALL_ID,
    SOURCE_FILE,
    SOURCE_ROW,
    "column",
    "reason",
    "raw",  # the row's original cells as JSON, so nothing is lost
]


def require_columns(df: pd.DataFrame, columns: Iterable[str], where: str) -> None:
    """Raise ValueError naming the stage and the missing columns: a programming error, not a user error."""
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{where}: missing columns {missing}")


# --- draft demand list (one row per condensed entry) -----------------------------------------------
DRAFT_COLUMNS = [
    ENTRY_ID,
    INDUSTRY_ID,
    INDUSTRY,
    CHAIN_ID,
    CHAIN,
    "entry_kind",  # cluster / duplicate_group / single
    "draft_title",  # the representative member's title
    "label",  # cluster keyword label ("" for a single demand)
    "member_count",  # accepted rows in the entry
    "duplicate_rows",  # rows that are duplicates of another member
    "enterprise_count",  # distinct enterprises (credit code when given, else name)
    "enterprises",  # "、"-joined names
    "regions",  # "、"-joined 市州
    "coop_modes",  # "、"-joined cooperation modes the members ask for
    "funding_total",  # 万元, sum over members (NaN-free: 0 when none stated)
    "confidence",  # mean chain confidence of members in [0, 1]
    "needs_review_count",
    "member_ids",  # ";"-joined demand ids
    "recurring_members",  # members raised in an earlier call (see recurrence)
    CLUSTER_GROUP,  # the coarser group (cluster of clusters) the entry's members lie in, "" when none
    CLUSTER_GROUP_LABEL,
]
