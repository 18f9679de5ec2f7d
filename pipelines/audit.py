"""The supervision office's audit workbook for one call: every decision on its demands, who, when, what and why.

Read from the library only (events, runs, human decisions); nothing is recomputed, so the workbook shows what
was decided at the time, including decisions later overridden.
"""

import json
from pathlib import Path

import pandas as pd
from openpyxl import Workbook

from . import migrations as m
from . import schema as s
from .store import Library
from .workbook import Col, _write_table

KIND_LABELS = {
    "mapping": "产业映射（自动）",
    "grouping": "查重/聚类（自动）",
    "merge": "组合并（自动）",
    "merge_proposal": "重复组合并建议（待人工决定）",
    "correction": "人工更正",
    "confirmation": "人工确认",
    "conflict": "更正分歧（待仲裁）",
    "mapper_model": "映射模型更新",
    "staff_decision": "清单审核决定（人工）",
    "expert_score": "专家评分（人工）",
    "score": "清单评分（自动）",
    "erasure": "个人信息删除",
}
FIELD_LABELS = {
    s.INDUSTRY_ID: "所属产业",
    s.CHAIN_ID: "所属产业链",
    s.DUPLICATE_GROUP: "重复组",
    s.CLUSTER_ID: "聚类",
    s.CLUSTER_GROUP: "聚类组",
    "model_version": "映射模型版本",
    s.ENTRY_ID: "清单条目",
    "entry_score": "所在条目的综合得分",
}
ACTOR_LABELS = {"pipeline": "系统（自动）"}

EVENT_COLUMNS = (
    Col(m.AT, "时间（UTC）", 24),
    Col("kind_label", "决定类型", 18),
    Col("actor_label", "执行者", 14),
    Col(s.DEMAND_ID, "需求ID", 20),
    Col(s.EXTERNAL_ID, "需求编号", 14),
    Col(s.TITLE, "需求名称", 32),
    Col("field_label", "字段", 14),
    Col(m.OLD_VALUE, "原值", 18),
    Col(m.NEW_VALUE, "新值", 18),
    Col(s.EVIDENCE, "依据与理由", 70),
    Col(m.RUN_ID, "运行编号", 30),
)
RUN_COLUMNS = (
    Col(m.RUN_ID, "运行编号", 30),
    Col(m.STATUS, "状态", 10),
    Col(m.STARTED_AT, "开始（UTC）", 24),
    Col(m.FINISHED_AT, "结束（UTC）", 24),
    Col("run_kind", "运行类型", 12),
    Col(m.TAXONOMY_VERSION, "分类体系版本", 22),
    Col(m.ENCODER, "句向量模型", 30),
    Col("mapper", "映射器", 40),
    Col(m.CONFIG_HASH, "配置指纹", 18),
)
HUMAN_COLUMNS = (
    Col(s.DEMAND_ID, "需求ID", 20),
    Col(s.EXTERNAL_ID, "需求编号", 14),
    Col(s.TITLE, "需求名称", 32),
    Col(s.INDUSTRY_ID, "产业", 8),
    Col(s.CHAIN_ID, "产业链", 14),
    Col(m.REVIEWER, "判定人", 12),
    Col(m.AT, "时间（UTC）", 24),
    Col(m.NOTE, "说明", 40),
)
SHEETS = ("决定记录", "运行记录", "人工判定", "全库事件")


def _labelled(events: pd.DataFrame, demands: pd.DataFrame) -> pd.DataFrame:
    shown = demands[[s.DEMAND_ID, s.EXTERNAL_ID, s.TITLE]].drop_duplicates(s.DEMAND_ID)
    frame = events.merge(shown, on=s.DEMAND_ID, how="left")
    return frame.assign(
        kind_label=frame[m.KIND].map(lambda k: KIND_LABELS.get(k, k)),
        actor_label=frame[m.ACTOR].map(lambda a: ACTOR_LABELS.get(a, a)),
        field_label=frame[m.FIELD].map(lambda f: FIELD_LABELS.get(f, f)),
    )


def _runs(runs: pd.DataFrame) -> pd.DataFrame:
    manifests = [json.loads(text) if isinstance(text, str) and text else {} for text in runs[m.MANIFEST_JSON]]
    return runs.assign(
        run_kind=["重新映射" if mf.get("kind") == "remap" else "批次处理" for mf in manifests],
        mapper=[str(mf.get("mapper", "")) for mf in manifests],
    )


def audit_frames(library: Library, call_id: str) -> dict[str, pd.DataFrame]:
    """The four sheets' frames: the call's events, its runs, the human decisions on its demands, and the
    library-wide events (learned models) that have no call."""
    demands = library.demands(call_id)
    if demands.empty and library.runs(call_id).empty:
        raise LookupError(call_id)
    events = library.events()
    everything = library.demands()
    mine = events[(events[s.CALL_ID] == call_id) | events[s.DEMAND_ID].isin(demands[s.DEMAND_ID])]
    general = events[events[s.CALL_ID].isna() & events[s.DEMAND_ID].isna()]
    human = library.human_mappings()
    human = human[human[s.DEMAND_ID].isin(demands[s.DEMAND_ID])].merge(
        demands[[s.DEMAND_ID, s.EXTERNAL_ID, s.TITLE]], on=s.DEMAND_ID, how="left"
    )
    return dict(
        zip(
            SHEETS,
            (_labelled(mine, everything), _runs(library.runs(call_id)), human, _labelled(general, everything)),
            strict=True,
        )
    )


def write_audit(frames: dict[str, pd.DataFrame], path: Path) -> None:
    wb = Workbook()
    first = wb.active
    assert first is not None
    wb.remove(first)
    for name, columns in zip(SHEETS, (EVENT_COLUMNS, RUN_COLUMNS, HUMAN_COLUMNS, EVENT_COLUMNS), strict=True):
        _write_table(wb.create_sheet(name), frames[name], columns)
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
