"""The scoring rubric (data/rubric/scoring.yaml): frozen models and a validating loader.

The rubric is data staff edit: which evidence each score dimension counts and how many points each signal is
worth. Code only knows the kinds of signal (deadline, funding, enterprises, recurrence, indicators, keywords,
cooperation modes); every weight, step and cap lives in the file, so a changed weight changes the ranking without
a code change. A bad file is refused with a Chinese ConfigError naming the entry (e.g. `dimensions.urgency.deadline`).
"""

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .errors import ConfigError

DIMENSIONS = ("urgency", "difficulty", "market")
DIMENSION_LABELS = {"urgency": "紧迫度", "difficulty": "解决难易度", "market": "市场推广"}
Points = float  # a signal's contribution to a 0-100 dimension score; may be negative

_Bounded = Field(ge=-100, le=100)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class DeadlineStep(_Frozen):
    within_months: float = Field(gt=0)
    points: Points = _Bounded


class FundingStep(_Frozen):
    at_least: float = Field(ge=0, description="万元, summed over the entry's members")
    points: Points = _Bounded


class PerItem(_Frozen):
    """`per` points for each counted item, at most `cap` in total."""

    per: Points = _Bounded
    cap: Points = Field(ge=0, le=100)


class Dimension(_Frozen):
    base: Points = Field(0, ge=-100, le=100)
    deadline: tuple[DeadlineStep, ...] = ()
    funding: tuple[FundingStep, ...] = ()
    enterprises: PerItem | None = None
    recurrence: PerItem | None = None
    indicators: PerItem | None = None
    keywords: dict[str, Points] = {}
    keywords_cap: Points = Field(100, ge=0, le=100)
    coop_modes: dict[str, Points] = {}
    coop_cap: Points = Field(100, ge=0, le=100)

    @field_validator("keywords", "coop_modes")
    @classmethod
    def _words(cls, value: dict[str, Points]) -> dict[str, Points]:
        for word, points in value.items():
            if not str(word).strip():
                raise ValueError("词语不能为空")
            if not -100 <= points <= 100:
                raise ValueError(f"“{word}”的加分 {points} 应在 -100 到 100 之间")
        return value

    @field_validator("deadline")
    @classmethod
    def _shortest_first(cls, value: tuple[DeadlineStep, ...]) -> tuple[DeadlineStep, ...]:
        return tuple(sorted(value, key=lambda step: step.within_months))

    @field_validator("funding")
    @classmethod
    def _largest_first(cls, value: tuple[FundingStep, ...]) -> tuple[FundingStep, ...]:
        return tuple(sorted(value, key=lambda step: -step.at_least))


class Dimensions(_Frozen):
    urgency: Dimension = Dimension()
    difficulty: Dimension = Dimension()
    market: Dimension = Dimension()

    def of(self, name: str) -> Dimension:
        found: Dimension = getattr(self, name)
        return found


class TotalWeights(_Frozen):
    """A dimension left out of a written `total_weights` weighs 0 (what staff see is what counts)."""

    urgency: float = Field(0, ge=0)
    difficulty: float = Field(0, ge=0)
    market: float = Field(0, ge=0)

    @model_validator(mode="after")
    def _some_weight(self) -> "TotalWeights":
        if self.urgency + self.difficulty + self.market <= 0:
            raise ValueError("三个维度的权重不能全为 0")
        return self

    def share(self, name: str) -> float:
        """The dimension's share of the total (weights normalised to sum 1)."""
        weight: float = getattr(self, name)
        return weight / (self.urgency + self.difficulty + self.market)


class ExpertRule(_Frozen):
    mode: Literal["replace", "blend"] = "blend"
    expert_weight: float = Field(0.6, ge=0, le=1, description="blend: the expert mean's share")


class CompletenessRule(_Frozen):
    min_difficulty_chars: int = Field(30, ge=0)
    difficulty_cues: tuple[str, ...] = ("难点", "难题", "瓶颈", "问题", "无法", "难以", "不足", "缺乏", "制约")


class Rubric(_Frozen):
    version: str = ""
    total_weights: TotalWeights = TotalWeights(urgency=0.4, difficulty=0.3, market=0.3)
    chain_priority: dict[str, float] = {}
    dimensions: Dimensions = Dimensions()
    expert: ExpertRule = ExpertRule()
    completeness: CompletenessRule = CompletenessRule()

    @field_validator("chain_priority")
    @classmethod
    def _positive(cls, value: dict[str, float]) -> dict[str, float]:
        for chain, weight in value.items():
            if weight < 0:
                raise ValueError(f"产业链 {chain} 的优先系数 {weight} 不能为负数")
        return value

    def priority(self, chain_id: str) -> float:
        return float(self.chain_priority.get(chain_id, 1.0))


def load_rubric(path: Path) -> Rubric:
    """The rubric at `path`; ConfigError (Chinese, naming the entry and the value found) when it is invalid."""
    try:
        raw: Any = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"评分规则文件 {path} 无法读取：{exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"评分规则文件 {path} 应为键值映射（YAML mapping）")
    try:
        return Rubric.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"评分规则文件 {path} 中 {_explain(exc)}") from exc


def _explain(exc: ValidationError) -> str:
    """ "dimensions.urgency（紧迫度）.deadline.0.points 项无效：<reason>（当前值：…）" for the first error."""
    first = exc.errors()[0]
    parts = [f"{p}（{DIMENSION_LABELS[p]}）" if p in DIMENSION_LABELS else str(p) for p in first["loc"]]
    where = ".".join(parts) or "顶层"
    reason = str(first["msg"]).removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        reason = "不认识的项（拼写错误？可用的项见 data/rubric/scoring.yaml 开头的说明）"
    found = first.get("input")
    shown = "" if isinstance(found, dict | list) or first["type"] == "missing" else f"（当前值：{found}）"
    return f"{where} 项无效：{reason}{shown}"
