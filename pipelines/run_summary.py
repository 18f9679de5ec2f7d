"""A run's summary for the Prefect UI (pure): artifact keys, a markdown summary and a table of counts.

The flow publishes both as Prefect artifacts (`flows.publish_run_summary`); built from the run's manifest so the UI
shows exactly what `manifest.json` records.
"""

import hashlib
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

COUNT_LABELS = {
    "rows_read": "读取行数",
    "accepted": "接收需求",
    "quarantined": "隔离行",
    "duplicate_groups": "重复组",
    "clusters": "相似聚类",
    "needs_review": "待复核",
    "library_inserted": "需求库新增",
    "library_updated": "需求库更新",
    "library_unchanged": "需求库未变",
    "library_events": "需求库事件",
    "library_quarantined": "需求库隔离记录",
}


def artifact_key(call_id: str, suffix: str = "") -> str:
    """A Prefect artifact key for the call: lowercase letters, digits and dashes only (Prefect's rule); a call id
    with other characters (Chinese, underscores) gets a short hash so that two calls never share a key."""
    slug = re.sub(r"[^a-z0-9]+", "-", call_id.lower()).strip("-")
    if slug != call_id:
        slug = f"{slug}-{hashlib.sha256(call_id.encode()).hexdigest()[:8]}".strip("-")
    return f"consolidate-{slug}{'-' + suffix if suffix else ''}"


def counts_table(manifest: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Rows {指标, 数量, 字段} for every count in the manifest (the known ones first, with Chinese labels)."""
    counts: Mapping[str, Any] = manifest.get("counts", {})
    ordered = [k for k in COUNT_LABELS if k in counts] + sorted(k for k in counts if k not in COUNT_LABELS)
    return [{"指标": COUNT_LABELS.get(k, k), "数量": counts[k], "字段": k} for k in ordered]


def summary_markdown(manifest: Mapping[str, Any], outputs: Mapping[str, Path]) -> str:
    """The run in a few lines: call, run, counts, stage times, inputs with errors, and where the outputs are."""
    counts: Mapping[str, Any] = manifest.get("counts", {})
    lines = [
        f"# 批次 {manifest.get('call_id', '')} 汇总",
        "",
        f"- 运行记录：`{manifest.get('run_id', '')}`（{manifest.get('started_at', '')} 至 "
        f"{manifest.get('finished_at', '')}）",
        f"- 分类体系版本：{manifest.get('taxonomy', {}).get('version', '')}；句向量：{manifest.get('encoder', '')}；"
        f"映射器：{manifest.get('mapper', '')}；配置：`{manifest.get('config_hash', '')}`",
        f"- 接收 {counts.get('accepted', 0)} 条，隔离 {counts.get('quarantined', 0)} 条，"
        f"重复组 {counts.get('duplicate_groups', 0)} 个，聚类 {counts.get('clusters', 0)} 个，"
        f"**待复核 {counts.get('needs_review', 0)} 条**",
    ]
    bad = [f for f in manifest.get("inputs", []) if f.get("error")]
    if bad:
        lines += ["", "## 无法读取的文件", ""] + [f"- {f.get('file_name', '')}：{f['error']}" for f in bad]
    seconds: Mapping[str, float] = manifest.get("stage_seconds", {})
    if seconds:
        lines += ["", "## 各阶段耗时", "", "| 阶段 | 秒 |", "|---|---:|"]
        lines += [f"| {name} | {value:.1f} |" for name, value in seconds.items()]
    if outputs:
        lines += ["", "## 输出文件", ""] + [f"- {name}：`{path}`" for name, path in sorted(outputs.items())]
    return "\n".join(lines) + "\n"
