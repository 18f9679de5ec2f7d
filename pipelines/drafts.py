"""Draft demand list: one entry per cluster of related needs, per duplicate group outside any cluster, and per
remaining single demand, with the counts staff condense from. Also the clusters table.

Pure functions over the mapped, grouped demands frame.
"""

import pandas as pd

from . import schema as s

_KIND_BY_PREFIX = {"C": "cluster", "G": "duplicate_group", "S": "single"}


def entry_ids(demands: pd.DataFrame) -> pd.Series:
    """Each demand's draft entry: the ENTRY_ID staff decisions gave it (see `decisions`), else its cluster, else its
    duplicate group, else itself ("S" + id hex)."""
    if s.ENTRY_ID in demands.columns:
        return demands[s.ENTRY_ID].astype(str)
    single = "S" + demands[s.DEMAND_ID].str[1:]
    group = demands[s.DUPLICATE_GROUP].fillna("").where(lambda g: g != "", single)
    return demands[s.CLUSTER_ID].fillna("").where(lambda c: c != "", group)


def _enterprise_keys(members: pd.DataFrame) -> set[str]:
    """Distinct enterprises: by credit code when given, otherwise by name; blanks are not enterprises."""
    keys = set()
    for code, name in zip(members[s.CREDIT_CODE].fillna(""), members[s.ENTERPRISE].fillna(""), strict=True):
        if str(code).strip():
            keys.add("code:" + str(code).strip().upper())
        elif str(name).strip():
            keys.add("name:" + str(name).strip())
    return keys


def _joined_unique(values: pd.Series) -> str:
    return "、".join(sorted({str(v).strip() for v in values.fillna("") if str(v).strip()}))


def _representative(members: pd.DataFrame) -> pd.Series:
    """The member whose duplicate group is largest, then the longest text, then the smallest id."""
    group_size = (
        members[s.DUPLICATE_GROUP]
        .map(members[s.DUPLICATE_GROUP].value_counts())
        .where(members[s.DUPLICATE_GROUP] != "", 1)
    )
    order = members.assign(_g=-group_size, _len=-members[s.CORE_TEXT].str.len()).sort_values(
        ["_g", "_len", s.DEMAND_ID]
    )
    return order.iloc[0]


def _most_common(values: pd.Series, fallback: str) -> str:
    counts = values.value_counts()
    top = counts[counts == counts.max()].index
    return fallback if fallback in top else str(sorted(top)[0])


def build_drafts(demands: pd.DataFrame) -> pd.DataFrame:
    """DRAFT_COLUMNS, one row per entry, ordered by industry, chain, member count (desc) and entry id.

    Input: the demands frame after mapping, duplicates and clustering (needs CORE_TEXT and the export columns).
    """
    s.require_columns(demands, [s.DEMAND_ID, s.CHAIN_ID, s.CLUSTER_ID, s.DUPLICATE_GROUP, s.CORE_TEXT], "drafts")
    rows = []
    for entry, members in demands.groupby(entry_ids(demands), sort=True):
        rep = _representative(members)
        chain_id = _most_common(members[s.CHAIN_ID], rep[s.CHAIN_ID])
        inside = members[members[s.CHAIN_ID] == chain_id]
        industry_id = _most_common(inside[s.INDUSTRY_ID], rep[s.INDUSTRY_ID])
        rows.append(
            {
                s.ENTRY_ID: entry,
                s.INDUSTRY_ID: industry_id,
                s.INDUSTRY: inside[s.INDUSTRY].iloc[0],
                s.CHAIN_ID: chain_id,
                s.CHAIN: inside[s.CHAIN].iloc[0],
                "entry_kind": _KIND_BY_PREFIX[str(entry)[0]],
                "draft_title": rep[s.TITLE],
                "label": members[s.CLUSTER_LABEL].iloc[0] if str(entry).startswith("C") else "",
                "member_count": len(members),
                "duplicate_rows": int((members[s.DUPLICATE_OF].fillna("") != "").sum()),
                "enterprise_count": len(_enterprise_keys(members)),
                "enterprises": _joined_unique(members[s.ENTERPRISE]),
                "regions": _joined_unique(members[s.REGION]),
                "coop_modes": _joined_unique(members[s.COOP_MODE]) if s.COOP_MODE in members else "",
                "funding_total": round(float(members[s.FUNDING].fillna(0).sum()), 2),
                "confidence": round(float(members[s.CONFIDENCE].mean()), 4),
                "needs_review_count": int(members[s.NEEDS_REVIEW].sum()),
                "member_ids": ";".join(sorted(members[s.DEMAND_ID])),
                "recurring_members": int(members[s.RECURRING].fillna(False).astype(bool).sum())
                if s.RECURRING in members
                else 0,
                **_group_of(members),
            }
        )
    drafts = pd.DataFrame(rows, columns=s.DRAFT_COLUMNS)
    return drafts.sort_values(
        [s.INDUSTRY_ID, s.CHAIN_ID, "member_count", s.ENTRY_ID], ascending=[True, True, False, True]
    ).reset_index(drop=True)


def build_clusters(demands: pd.DataFrame) -> pd.DataFrame:
    """CLUSTERS_EXPORT_COLUMNS, one row per cluster (demands with an empty CLUSTER_ID are not in a cluster)."""
    s.require_columns(demands, [s.CLUSTER_ID, s.CLUSTER_LABEL, s.DUPLICATE_GROUP], "clusters")
    rows = []
    for cluster, members in demands[demands[s.CLUSTER_ID] != ""].groupby(s.CLUSTER_ID, sort=True):
        rep = _representative(members)
        groups = members[s.DUPLICATE_GROUP][members[s.DUPLICATE_GROUP] != ""]
        rows.append(
            {
                s.CLUSTER_ID: cluster,
                "industry_id": rep[s.INDUSTRY_ID],
                "chain_id": rep[s.CHAIN_ID],
                "chain": rep[s.CHAIN],
                "label": members[s.CLUSTER_LABEL].iloc[0],
                "size": len(members),
                "n_enterprises": len(_enterprise_keys(members)),
                "n_duplicate_groups": groups.nunique(),
                "representative_id": rep[s.DEMAND_ID],
                "representative_title": rep[s.TITLE],
                "member_ids": ";".join(sorted(members[s.DEMAND_ID])),
                **_group_of(members),
            }
        )
    return pd.DataFrame(rows, columns=s.CLUSTERS_EXPORT_COLUMNS)


def _group_of(members: pd.DataFrame) -> dict[str, str]:
    """The coarser cluster group most members lie in and its label ("" when none or no such column)."""
    if s.CLUSTER_GROUP not in members.columns:
        return {s.CLUSTER_GROUP: "", s.CLUSTER_GROUP_LABEL: ""}
    groups = members[s.CLUSTER_GROUP].fillna("").astype(str)
    if not (groups != "").any():
        return {s.CLUSTER_GROUP: "", s.CLUSTER_GROUP_LABEL: ""}
    group = _most_common(groups[groups != ""], "")
    labels = members.get(s.CLUSTER_GROUP_LABEL, pd.Series("", index=members.index)).fillna("")
    return {s.CLUSTER_GROUP: group, s.CLUSTER_GROUP_LABEL: str(labels[groups == group].iloc[0])}
