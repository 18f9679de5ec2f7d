"""What a demand asks for, read from its normalised text: the need text (title + body without the 现有工作基础 section,
labels and self-descriptions) and the body's sentences.

One definition serves three readers: duplicate detection compares need texts and aligns their sentences, the demand
index keys exact copies by the need text, and the encoder builds a demand's body vector from the same sentences
(`embed.demand_vectors`), so the sentence vectors duplicate detection aligns are those the body vector was made of.
"""

import re

import pandas as pd

from . import schema as s
from .normalize import strip_boilerplate
from .similarity import sentences

_LATER_SECTION = "|".join(("需求内容", "需求描述", "技术需求", "技术难点", "预期目标", "预期指标", "主要技术指标",
                           "技术指标", "合作方式", "需求背景", "需求概述"))  # fmt: skip
_BASIS_SECTION_RE = re.compile(
    rf"(?:现有工作基础|现有基础|工作基础)\s*[:：].*?(?=\n\s*(?:{_LATER_SECTION})\s*[:：]|\Z)", re.DOTALL
)


def need_texts(demands: pd.DataFrame) -> list[str]:
    """What each demand asks for: its title and need body, one line each; CORE_TEXT when there is no NORM_TEXT or
    its body is empty.

    The body is read from NORM_TEXT, the 现有工作基础 section ending at the next section label, so a need section
    written after it is kept (CORE_TEXT drops everything after that label).
    """
    titles, bodies = _titles_and_bodies(demands)
    cores = demands[s.CORE_TEXT].fillna("").astype(str).tolist()
    return [f"{t}\n{b}".strip() if b else c for t, b, c in zip(titles, bodies, cores, strict=True)]


def need_bodies(demands: pd.DataFrame) -> tuple[list[str], list[str]]:
    """(titles, bodies): the normalised title and the need text after it ("" when it has none)."""
    titles, bodies = _titles_and_bodies(demands)
    cores = demands[s.CORE_TEXT].fillna("").astype(str).tolist()
    for k, (title, core) in enumerate(zip(titles, cores, strict=True)):
        if not bodies[k]:  # CORE_TEXT starts with the title when there is one
            bodies[k] = (core[len(title) :] if core.startswith(title) else core).strip()
    return titles, bodies


def _titles_and_bodies(demands: pd.DataFrame) -> tuple[list[str], list[str]]:
    titles = demands[s.NORM_TITLE].fillna("").astype(str).tolist()
    if s.NORM_TEXT not in demands:
        return titles, [""] * len(titles)
    texts = demands[s.NORM_TEXT].fillna("").astype(str).tolist()
    return titles, [strip_boilerplate(_BASIS_SECTION_RE.sub("", text)) for text in texts]


def body_sentences(body: str, most_chars: int) -> list[str]:
    """The body's sentences (`similarity.sentences`) from its start while they add up to at most `most_chars`
    characters (the first one always, cut at `most_chars`); a body of fragments only is one sentence."""
    out: list[str] = []
    used = 0
    for sentence in sentences(body) or ([body.strip()] if body.strip() else []):
        if out and used + len(sentence) > most_chars:
            break
        out.append(sentence[:most_chars])
        used += len(out[-1])
    return out
