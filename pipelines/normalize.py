"""Text normalisation: NFKC (full width -> half width), whitespace, form boilerplate, company self-descriptions.

Pure str -> str functions plus one frame step. `core_text` is what duplicate detection and mapping read: the
demand's own technical content, without the form's section labels or the enterprise's self-introduction (which
repeats across every demand the enterprise submits and would make unrelated demands look alike).
"""

import re
import unicodedata

import pandas as pd

from . import schema as s
from .settings import NormalizeConfig

_SECTION_LABELS = (
    "需求内容",
    "需求描述",
    "技术需求",
    "技术难点",
    "预期目标",
    "预期指标",
    "主要技术指标",
    "技术指标",
    "现有工作基础",
    "现有基础",
    "工作基础",
    "合作方式",
    "需求背景",
    "需求概述",
)
_LABEL_RE = re.compile(  # a label opens a line or follows the end of a sentence
    r"(?:^|\n|\s|(?<=[。；;!！?？]))[一二三四五六七八九十\d]*[、.．)）]?\s*(?:{})\s*[:：]".format(
        "|".join(_SECTION_LABELS)
    )
)
_NEXT_LABEL = r"(?:^|\n|\s|(?<=[。；;!！?？]))[一二三四五六七八九十\d]*[、.．)）]?\s*(?:{})\s*[:：]".format(
    "|".join(label for label in _SECTION_LABELS if "基础" not in label)
)
# the 现有工作基础 section runs to the next section label (forms put it anywhere), or to the end
_BASIS_RE = re.compile(rf"(?:现有工作基础|现有基础|工作基础)\s*[:：].*?(?={_NEXT_LABEL}|\Z)", re.DOTALL)
# Sentences that describe the enterprise rather than the need: founding year, honours, revenue, staff, patents.
_INTRO_RE = re.compile(  # anchored at a sentence start: unanchored, every start position is tried (quadratic)
    r"(?<![^。；;\n])[^。；;\n]*(?:公司(?:成立|始建|创建)于|成立于\d|高新技术企业|专精特新|注册资本|销售收入|营业收入|利润总额|"
    r"员工\d|职工\d|现有员工|拥有(?:发明)?专利|授权(?:发明)?专利|上市公司|年产值)[^。；;\n]*[。；;]?"
)
_WS_RE = re.compile(r"[ \t\u3000\xa0]+")
_NL_RE = re.compile(r"\s*\n\s*")


def normalize_text(text: str) -> str:
    """NFKC (full-width letters, digits and punctuation to half width), unified whitespace, trimmed lines."""
    text = unicodedata.normalize("NFKC", text or "")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.replace("\n", "").isprintable():  # printable: no control/format character (category C) to drop
        text = "".join(ch for ch in text if ch == "\n" or unicodedata.category(ch)[0] != "C")
    text = _WS_RE.sub(" ", text)
    return _NL_RE.sub("\n", text).strip()


def strip_boilerplate(text: str, strip_company_intro: bool = True) -> str:
    """Drop the 现有工作基础 section, section labels and (optionally) company self-description sentences."""
    text = _BASIS_RE.sub("", text)
    text = _LABEL_RE.sub("\n", text)
    if strip_company_intro:
        text = _INTRO_RE.sub("", text)
    return _NL_RE.sub("\n", text).strip()


def normalize_demands(demands: pd.DataFrame, config: NormalizeConfig) -> pd.DataFrame:
    """Add NORM_TITLE, NORM_TEXT (normalised) and CORE_TEXT (title + body without boilerplate).

    Input columns: TITLE, TEXT. A demand whose body is nothing but boilerplate keeps its title as core text.
    """
    s.require_columns(demands, [s.TITLE, s.TEXT], "normalize_demands")
    titles = demands[s.TITLE].fillna("").astype(str).map(normalize_text)
    texts = demands[s.TEXT].fillna("").astype(str).map(normalize_text)
    bodies = texts.map(lambda t: strip_boilerplate(t, config.strip_company_intro))
    core = pd.Series([f"{t}\n{b}".strip() for t, b in zip(titles, bodies, strict=True)], index=demands.index)
    return demands.assign(**{s.NORM_TITLE: titles, s.NORM_TEXT: texts, s.CORE_TEXT: core})
