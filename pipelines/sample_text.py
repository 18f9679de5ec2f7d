"""Wording of the synthetic demands of `pipelines.sample`: a `Need` (the facts) written in a `Style` (the how).

Keeping the two apart is what lets the generator plant copies: an exact copy reuses the text, a reworded copy
re-writes the same need in another style, a hard negative writes another need in the same style.
"""

import random
from dataclasses import dataclass, replace

from pipelines import sample_vocab as v

_HALF_PUNCT = str.maketrans("，：；（）", ",:;()")
_FULL_DIGITS = str.maketrans("0123456789", "０１２３４５６７８９")
_SECTION_ORDERS = (
    ("需求内容", "预期目标", "现有工作基础"),
    ("需求内容", "现有工作基础", "预期目标"),
    ("预期目标", "需求内容", "现有工作基础"),
)


@dataclass(frozen=True)
class Topic:
    group: v.Group
    industry: str  # EI..MH or NONE
    fields: dict[str, list[list[str]]]  # objects/processes/approaches/applications/pains -> synonym lists
    indicators: list[tuple[list[str], str, str, list[str]]]  # (names, op, unit, values)

    def need_key(self, obj: int, proc: int) -> str:
        """`chain:object/process` in canonical words (chain NONE is qualified by the industry)."""
        label = self.group.chain if self.group.chain != "NONE" else f"{self.industry}-NONE"
        return f"{label}:{self.fields['objects'][obj][0]}/{self.fields['processes'][proc][0]}"


def parse_topic(group: v.Group) -> Topic:
    names = ("objects", "processes", "approaches", "applications")
    fields = {name: [item.split("|") for item in getattr(group, name)] for name in names}
    fields["pains"] = [item.split("|") for item in (group.pains or v.GENERIC_PAINS)]
    indicators = []
    for spec in group.indicators:
        label, op, unit, values = spec.split(";")
        indicators.append((label.split("|"), op, unit, values.split()))
    return Topic(group, group.industry or group.chain.split("-")[0], fields, indicators)


@dataclass(frozen=True)
class Need:
    """What is needed; indices into the topic's vocabulary."""

    topic: int
    obj: int
    proc: int
    app: int
    pains: tuple[int, ...]
    approaches: tuple[int, ...]
    inds: tuple[tuple[int, int], ...]  # (indicator, value index)
    goals: tuple[tuple[int, int], ...]  # (goal, small number)
    prog: int


@dataclass(frozen=True)
class Style:
    """How a need is written: template choices, synonym choice, indicator phrasing, section order."""

    title: int
    suffix: int
    content: int
    target: int
    basis: int
    variant: int
    op: int
    order: int


def _pick(variants: list[str], k: int) -> str:
    return variants[k % len(variants)]


class Writer:
    """Draws needs and styles from `rng` and renders them as (需求名称, 需求描述)."""

    def __init__(self, rng: random.Random, topics: list[Topic]) -> None:
        self.rng = rng
        self.topics = topics

    def new_need(self, t: int) -> Need:
        f, rng, indicators = self.topics[t].fields, self.rng, self.topics[t].indicators
        chosen = rng.sample(range(len(indicators)), min(3, len(indicators)))
        inds = tuple((i, rng.randrange(len(indicators[i][3]))) for i in chosen)
        goals = tuple((g, rng.randint(1, 5)) for g in rng.sample(range(len(v.GOALS)), 2))
        pains = tuple(rng.sample(range(len(f["pains"])), 2))
        approaches = tuple(rng.sample(range(len(f["approaches"])), 3))
        obj, proc, app = (rng.randrange(len(f[name])) for name in ("objects", "processes", "applications"))
        progress = rng.randrange(len(v.PROGRESS) - bool(self.topics[t].group.pains))  # the last: 生产线
        return Need(t, obj, proc, app, pains, approaches, inds, goals, progress)

    def new_style(self) -> Style:
        r = self.rng
        templates = (v.TITLE_PATTERNS, v.TITLE_SUFFIXES, v.CONTENT_TEMPLATES, v.TARGET_TEMPLATES, v.BASIS_TEMPLATES)
        title, suffix, content, target, basis = (r.randrange(len(x)) for x in templates)
        order = 0 if r.random() < 0.92 else 1
        return Style(title, suffix, content, target, basis, r.choice((0, 0, 0, 1, 2)), r.randrange(4), order)

    def reword(self, nd: Need, st: Style) -> tuple[Need, Style]:
        """The same need as another writer puts it: synonyms, other sentences and order, close numbers."""
        rng, topic = self.rng, self.topics[nd.topic]
        inds = tuple(
            (i, min(max(k + rng.choice((-1, 0, 1)), 0), len(topic.indicators[i][3]) - 1))
            for i, k in rng.sample(nd.inds, len(nd.inds))
        )
        pains, goals = nd.pains[::-1], nd.goals[::-1]
        approaches = tuple(rng.sample(nd.approaches, len(nd.approaches)))
        progress = rng.randrange(len(v.PROGRESS) - bool(topic.group.pains))
        need = replace(nd, pains=pains, approaches=approaches, inds=inds, goals=goals, prog=progress)
        n_content = len(v.CONTENT_TEMPLATES)
        content = (st.content + rng.randrange(1, n_content)) % n_content
        style = replace(self.new_style(), content=content, variant=st.variant + 1, order=rng.choice((0, 1, 2)))
        return need, style

    def render(self, nd: Need, st: Style, facts: dict[str, str]) -> tuple[str, str]:
        """(需求名称, 需求描述) of a need written in a style by an enterprise described by `facts`."""
        f, k = self.topics[nd.topic].fields, st.variant
        obj, proc = _pick(f["objects"][nd.obj], k), _pick(f["processes"][nd.proc], k)
        a1, a2, a3 = (_pick(f["approaches"][i], k) for i in nd.approaches)
        p1, p2 = (_pick(f["pains"][i], k) for i in nd.pains)
        app = _pick(f["applications"][nd.app], k)
        work = obj + proc + ("" if proc.endswith(v.ACT_ENDINGS) else "研究")
        words = {"obj": obj, "topic": obj + proc, "work": work, "app": app, "a1": a1, "a2": a2, "a3": a3}
        words |= {"p1": p1, "p2": p2}
        suffix = v.TITLE_SUFFIXES[st.suffix]
        if proc.endswith(v.VERB_ENDINGS) or suffix[:2] in proc:
            suffix = v.TITLE_SUFFIXES_AFTER_VERB[st.suffix % len(v.TITLE_SUFFIXES_AFTER_VERB)]
        title = v.TITLE_PATTERNS[st.title].format(suffix=suffix, **words)
        sections = {
            "需求内容": v.CONTENT_TEMPLATES[st.content].format(**words),
            "预期目标": self._targets(nd, st),
            "现有工作基础": self._basis(nd, st, facts, words),
        }
        return title, "\n".join(f"{label}：{sections[label]}" for label in _SECTION_ORDERS[st.order])

    def _targets(self, nd: Need, st: Style) -> str:
        topic = self.topics[nd.topic]
        phrases = []
        for j, (i, k) in enumerate(nd.inds):
            names, op, unit, values = topic.indicators[i]
            phrase = v.OP_PHRASES[op][(st.op + j) % len(v.OP_PHRASES[op])]
            phrases.append(phrase.format(n=_pick(names, st.variant), v=values[k], u=unit))
        phrases += ["形成可推广的技术方案"] * (3 - len(phrases))
        g1, g2 = (v.GOALS[g].format(k=x, m=x * 500) for g, x in nd.goals)
        return v.TARGET_TEMPLATES[st.target].format(i1=phrases[0], i2=phrases[1], i3=phrases[2], g1=g1, g2=g2)

    def _basis(self, nd: Need, st: Style, facts: dict[str, str], words: dict[str, str]) -> str:
        x = nd.goals[0][1]
        progress = v.PROGRESS[nd.prog].format(k=x + 2, f=x * 60, **words)
        template = v.HOSPITAL_BASIS if facts["hospital"] else v.BASIS_TEMPLATES[st.basis]
        return template.format(prog=progress, ent="公司", **facts)

    def perturb(self, text: str) -> str:
        """A verbatim copy as re-typed: full/half-width punctuation and digits, stray whitespace."""
        r = self.rng.random()
        if r < 0.3:
            return text
        if r < 0.55:
            return text.translate(_HALF_PUNCT)
        if r < 0.7:
            return text.translate(_FULL_DIGITS)
        return " " + text.replace("。", "。 ", 2).replace("\n", " \n", 1) + "  "
