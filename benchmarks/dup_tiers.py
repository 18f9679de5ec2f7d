"""Generated calls with planted re-posts of graded difficulty, to benchmark duplicate detection.

`make_tiers(n_base, seed)` returns (demands, truth), deterministic for (n_base, seed). It was written without
reading the project's detector (`pipelines.dedup`, `pipelines.normalize`, `pipelines.segment`): the topics
(objects, processes, approaches, applications, pains, indicators) come from the sample generator's vocabulary
through `pipelines.sample_text.parse_topic`, the enterprises from `pipelines.sample_enterprise.Registry`; every
sentence frame, the synonym table and the edits of each tier are this module's own.

`n_base` distinct demands (every one a different object / process of a topic while the vocabulary lasts), then
planted rows, each derived from one base demand, `TIER_SHARE` of `n_base` per tier (~23 % of all rows):
- verbatim: the base re-typed (half-width punctuation, full-width digits, stray spaces / CRLF; 1 text in 5
  byte-identical), by the same enterprise half of the time, else by another one (a sister company);
- light_edit: by another enterprise, as every tier below: the base's sentences and title with 2-3 words changed,
  one number moved slightly, a sentence added to 需求内容 or the last one of 预期目标 dropped, and the other
  enterprise's own self-description in 现有工作基础;
- reordered: the same need sentences, shuffled within their sections, sections in another order, the title
  lightly reworded, and the other enterprise's own self-description in 现有工作基础;
- paraphrase: the same need written anew with other sentence frames, the other names of object / pains /
  indicators, a synonym table (研发/开发/研制, 提升/提高/改善, 工艺/技术/方法, ...), clauses reordered, compatible
  numbers (a neighbouring indicator value, "约" rounding, "不少于 k" for k), another title, another company;
- hard_negative: the base's exact frame, wording and numbers around another object of the same topic (e.g.
  磷酸铁锂电池电解液 vs 三元811电池电解液), by another enterprise: a different need, never in the base's dup_set.
About 15 % of the duplicate copies join a set that already has one, giving sets of three.
"""

import hashlib
import random
import re
from dataclasses import dataclass, replace

import pandas as pd

from pipelines import sample_vocab as v
from pipelines import schema as s
from pipelines.sample_enterprise import Enterprise, Registry
from pipelines.sample_text import Topic, parse_topic

VERBATIM, LIGHT_EDIT, REORDERED, PARAPHRASE, HARD_NEGATIVE = (
    "verbatim", "light_edit", "reordered", "paraphrase", "hard_negative",
)  # fmt: skip
DUP_TIERS = (VERBATIM, LIGHT_EDIT, REORDERED, PARAPHRASE)  # easiest to hardest
TIERS = (*DUP_TIERS, HARD_NEGATIVE)
DUP_SET, TIER, BASE_ID, NEED_KEY = "dup_set", "tier", "base_id", "need_key"
DEMAND_COLUMNS = [s.DEMAND_ID, s.TITLE, s.TEXT, s.ENTERPRISE]
TRUTH_COLUMNS = [s.DEMAND_ID, DUP_SET, TIER, BASE_ID, NEED_KEY]
TIER_SHARE, TRIPLE_SHARE, SAME_ENTERPRISE = 0.06, 0.15, 0.5
CONTENT, TARGET, BASIS = "需求内容", "预期目标", "现有工作基础"
SECTIONS = (CONTENT, TARGET, BASIS)

# --- the ordinary form (base demands, and the copies that keep its sentences) -----------------------------------
BASE_CONTENT = (
    ("我单位长期从事{obj}相关工作，主要服务于{app}。", "目前存在{p1}、{p2}等问题，制约了进一步发展。",
     "拟开展{obj}{proc}，重点解决{a1}、{a2}、{a3}等关键技术问题。", "希望与高校、科研院所开展产学研合作。"),
    ("{app}对{obj}提出了更高要求。", "当前{p1}，且{p2}。", "需围绕{a1}、{a2}和{a3}开展{obj}{proc}攻关。",
     "成果拟在{app}推广应用。"),
    ("本需求针对{obj}{proc}。", "企业现有技术存在{p1}、{p2}的不足。",
     "主要研究内容包括：（1）{a1}；（2）{a2}；（3）{a3}。", "拟采用合作开发方式联合攻关。"),
)  # fmt: skip
BASE_TARGET = (
    ("主要技术指标：{i1}，{i2}，{i3}。", "申请发明专利{pat}项，形成企业标准{std}项。"),
    ("项目完成后，{i1}；{i2}；{i3}。", "申请发明专利{pat}项。", "建成示范应用{std}处。"),
    ("{i1}，{i2}，{i3}。", "形成企业标准{std}项，申请发明专利{pat}项。", "完成中试验证。"),
)
BASE_PROGRESS = (
    "前期已在{obj}方面积累了{years}年的技术经验。",
    "已投入研发经费{spent}万元，完成了小试验证。",
    "已初步掌握{a1}相关技术，但尚未形成稳定工艺。",
)
BASE_OPS: dict[str, tuple[str, ...]] = {
    ">": ("{n}≥{v}{u}", "{n}不低于{v}{u}"),
    "<": ("{n}≤{v}{u}", "{n}不高于{v}{u}"),
    "=": ("{n}达到{v}{u}", "{n}为{v}{u}"),
}
BASE_TITLES = ("{obj}{proc}{suffix}", "{obj}{proc}{suffix}", "面向{app}的{obj}{proc}{suffix}", "{obj}{proc}技术需求")
_ACT_ENDS, _NOUN_ENDS = (
    ("研发", "研制", "开发", "研究", "攻关"),
    ("技术", "工艺", "方法", "模式", "体系", "方案", "系统"),
)
SUFFIXES = {
    "act": ("", "项目", "需求", "与应用"),
    "noun": ("研发", "研究", "攻关", "开发与应用"),
    "other": ("技术研发", "关键技术研究", "技术攻关", "技术研究与应用", "技术开发"),
}
COMPANY = (
    ("{ent}成立于{year}年，是{qual}。", "现有研发人员{rd}人，拥有发明专利{pi}项、实用新型专利{pu}项。",
     "建有{plat}，与{univ}建立了长期合作关系。"),
    ("{ent}注册资本{cap}万元，现有员工{emp}人，其中研发人员{rd}人。", "公司为{qual}，年研发投入占销售收入的{ratio}%。"),
    ("{ent}是{qual}，拥有授权专利{pt}项，其中发明专利{pi}项。", "公司建有{plat}，研发团队{rd}人，其中博士{phd}人。"),
)  # fmt: skip
HOSPITAL = (
    "我院为{qual}，开放床位{beds}张，年门急诊量{visits}万人次。",
    "现有科研人员{rd}人，与{univ}建立了合作关系。",
)

# --- light edits ---------------------------------------------------------------------------------------------
LIGHT_WORDS = {
    "拟开展": "计划开展", "拟采用": "计划采用", "拟在": "计划在", "需围绕": "需要围绕", "重点解决": "着重解决",
    "当前": "目前", "目前存在": "现阶段存在", "希望与": "期望与", "主要研究内容": "研究内容",
    "主要技术指标": "技术指标", "制约了": "限制了", "提出了更高要求": "提出了新的要求", "项目完成后": "项目结束后",
    "联合攻关": "共同攻关", "推广应用": "推广使用", "关键技术问题": "关键问题", "产学研合作": "技术合作",
    "长期从事": "多年从事",
}  # fmt: skip
EXTRA_SENTENCES = (
    "项目实施周期预计为{k}年。", "企业可提供中试场地和试验条件。", "合作方式以委托开发为主，也可共建研发平台。",
    "对合作团队的工程化能力有较高要求。",
)  # fmt: skip

# --- the same need written anew -------------------------------------------------------------------------------
PARA_CONTENT = (
    ("随着{app}的快速发展，市场对{obj}的要求不断提高。", "然而{p2}，加之{p1}，现有技术已难以满足需要。",
     "因此希望借助外部研发力量，从{a2}、{a1}以及{a3}几个方面入手，完成{obj}的{proc}。"),
    ("{obj}是{app}领域关注的重点。", "企业在这方面面临两大难题：一是{p1}，二是{p2}。",
     "计划通过对{a3}、{a1}、{a2}的系统研究，实现{obj}{proc}。", "欢迎具备相关技术积累的团队参与合作。"),
    ("为解决{p2}和{p1}的问题，企业计划开展{obj}{proc}工作。", "攻关重点是{a1}与{a2}，同时兼顾{a3}。",
     "相关成果将用于{app}。"),
)  # fmt: skip
PARA_TARGET = (
    ("通过项目实施，{i1}，同时{i2}，{i3}。", "预计申请发明专利{pat}项，并制定企业标准{std}项。"),
    ("预期实现以下目标：{i2}；{i1}；{i3}。", "争取获得发明专利{pat}项。"),
    ("项目结束时应做到{i1}、{i3}，{i2}。", "知识产权方面，拟申报发明专利{pat}项，编制企业标准{std}项。"),
)  # fmt: skip
PARA_PROGRESS = (
    "在{obj}领域已有约{years}年的研发积累。",
    "前期累计投入经费约{spent}万元，实验室阶段验证已经完成。",
    "对{a1}已有一定认识，但工艺还不够稳定。",
)
PARA_OPS: dict[str, tuple[str, ...]] = {
    ">": ("{n}要达到{v}{u}以上", "{n}至少为{v}{u}", "{n}不少于{v}{u}"),
    "<": ("{n}控制在{v}{u}以内", "{n}最多{v}{u}", "{n}不超过{v}{u}"),
    "=": ("{n}须满足{v}{u}", "{n}要做到{v}{u}"),
}
PARA_TITLES = ("关于{obj}{proc}的合作需求", "{app}用{obj}{proc}", "寻求{obj}{proc}技术合作", "{obj}{proc}难题攻关")
SYNONYMS: dict[str, tuple[str, ...]] = {
    "研发": ("开发", "研制"), "开发": ("研发",), "研制": ("研发", "开发"), "提升": ("提高", "改善"),
    "提高": ("提升",), "改善": ("提升",), "优化": ("改进", "完善"), "改进": ("优化",), "工艺": ("技术", "方法"),
    "方法": ("技术",), "降低": ("减少",), "减少": ("降低",), "偏高": ("较高",), "偏低": ("较低",), "不足": ("不够",),
    "问题": ("难题",), "关键": ("核心",), "制备": ("制造",), "检测": ("测试", "检验"), "控制": ("管控",),
    "一致性": ("均一性",), "效率": ("效能",), "成本": ("费用",), "依赖进口": ("靠进口",), "评价": ("评估",),
    "国产化替代": ("国产替代", "进口替代"), "监测": ("监控",), "生产": ("制造",), "规模化": ("批量化",),
    "缺乏": ("缺少",), "落后于": ("低于",), "难以": ("很难",), "研究": ("探索",), "受制于人": ("受到制约",),
}  # fmt: skip
_SYNONYM_RE = re.compile("|".join(sorted(SYNONYMS, key=len, reverse=True)))
_HALF = str.maketrans("，：；（）", ",:;()")
_WIDE_DIGITS = str.maketrans("0123456789", "０１２３４５６７８９")


@dataclass(frozen=True)
class Need:
    """What is needed: indices into a topic's vocabulary, and the need's own numbers."""

    topic: int
    obj: int
    proc: int
    app: int
    pains: tuple[int, ...]
    approaches: tuple[int, ...]
    inds: tuple[tuple[int, int], ...]  # (indicator, value index)
    pat: int  # invention patents to file
    std: int  # enterprise standards
    years: int  # years of experience
    spent: int  # 万元 already spent


@dataclass(frozen=True)
class Style:
    """Frame choices of the ordinary form; `alias` 1 writes the other names of object, pains, indicators."""

    title: int
    suffix: int
    content: int
    target: int
    progress: int
    op: int
    alias: int


@dataclass
class Form:
    """A written demand: a title and the sentences of each section, sections in `order`."""

    title: str
    sections: dict[str, list[str]]
    order: tuple[str, ...] = SECTIONS

    def text(self) -> str:
        return "\n".join(f"{label}：{''.join(self.sections[label])}" for label in self.order)


@dataclass
class Row:
    need: Need
    style: Style
    ent: Enterprise
    title: str
    text: str
    tier: str = ""
    source: int = -1  # index of the base row a planted row derives from


def _suffix_kind(proc: str) -> str:
    return "act" if proc.endswith(_ACT_ENDS) else "noun" if proc.endswith(_NOUN_ENDS) else "other"


class _Maker:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.registry = Registry(self.rng)
        groups = v.CHAIN_GROUPS + v.STRADDLE_GROUPS + v.CHAIN_NONE_GROUPS + v.NONE_GROUPS
        self.topics: list[Topic] = [parse_topic(g) for g in groups]
        self.used: set[tuple[int, int, int]] = set()  # (topic, object, process) of every row so far

    # --- drawing -----------------------------------------------------------------------------------------------
    def keys(self, n: int) -> list[tuple[int, int, int]]:
        """`n` (topic, object, process) triples, all distinct while the vocabulary lasts."""
        combos = [
            (t, o, p)
            for t, topic in enumerate(self.topics)
            for o in range(len(topic.fields["objects"]))
            for p in range(len(topic.fields["processes"]))
        ]
        out: list[tuple[int, int, int]] = []
        while len(out) < n:
            batch = combos[:]
            self.rng.shuffle(batch)
            out += batch
        return out[:n]

    def new_need(self, t: int, o: int, p: int) -> Need:
        rng, topic = self.rng, self.topics[t]
        f, indicators = topic.fields, topic.indicators
        chosen = rng.sample(range(len(indicators)), min(3, len(indicators)))
        inds = tuple((i, rng.randrange(len(indicators[i][3]))) for i in chosen)
        pains = tuple(rng.sample(range(len(f["pains"])), 2))
        approaches = tuple(rng.sample(range(len(f["approaches"])), 3))
        app = rng.randrange(len(f["applications"]))
        return Need(t, o, p, app, pains, approaches, inds, rng.randint(1, 5), rng.randint(1, 3),
                    rng.randint(2, 10), rng.randint(2, 50) * 10)  # fmt: skip

    def new_style(self) -> Style:
        r = self.rng
        return Style(r.randrange(len(BASE_TITLES)), r.randrange(5), r.randrange(len(BASE_CONTENT)),
                     r.randrange(len(BASE_TARGET)), r.randrange(len(BASE_PROGRESS)), r.randrange(2),
                     int(r.random() < 0.25))  # fmt: skip

    # --- writing -----------------------------------------------------------------------------------------------
    def words(self, nd: Need, alias: int) -> dict[str, str]:
        f = self.topics[nd.topic].fields

        def pick(names: list[str]) -> str:
            return names[min(alias, len(names) - 1)]

        a1, a2, a3 = (pick(f["approaches"][i]) for i in nd.approaches)
        p1, p2 = (pick(f["pains"][i]) for i in nd.pains)
        out = {"obj": pick(f["objects"][nd.obj]), "proc": pick(f["processes"][nd.proc]), "a1": a1, "a2": a2, "a3": a3}
        out |= {"app": pick(f["applications"][nd.app]), "p1": p1, "p2": p2, "pat": str(nd.pat), "std": str(nd.std)}
        return out | {"years": str(nd.years), "spent": str(nd.spent)}

    def indicators(self, nd: Need, ops: dict[str, tuple[str, ...]], op: int, alias: int, filler: str) -> dict[str, str]:
        out = []
        for j, (i, k) in enumerate(nd.inds):
            names, sign, unit, values = self.topics[nd.topic].indicators[i]
            frame = ops[sign][(op + j) % len(ops[sign])]
            out.append(frame.format(n=names[min(alias, len(names) - 1)], v=values[k], u=unit))
        out += [filler] * (3 - len(out))
        return {"i1": out[0], "i2": out[1], "i3": out[2]}

    def base_title(self, w: dict[str, str], pattern: int, suffix: int) -> str:
        options = SUFFIXES[_suffix_kind(w["proc"])]
        return BASE_TITLES[pattern].format(suffix=options[suffix % len(options)], **w).replace("技术技术", "技术")

    def company(self, ent: Enterprise) -> list[str]:
        """The enterprise's self-description: always the same frame and facts for one enterprise."""
        k = int(hashlib.sha256(ent.name.encode()).hexdigest()[:8], 16)
        frames = HOSPITAL if ent.facts["hospital"] else COMPANY[k % len(COMPANY)]
        who = ent.name if k % 2 else ("我公司", "本公司")[k // 2 % 2]
        return [frame.format(ent=who, **ent.facts) for frame in frames]

    def render(self, nd: Need, st: Style, ent: Enterprise) -> Form:
        w = self.words(nd, st.alias)
        w |= self.indicators(nd, BASE_OPS, st.op, st.alias, "形成可推广的技术方案")
        content = [x.format(**w) for x in BASE_CONTENT[st.content]]
        target = [x.format(**w) for x in BASE_TARGET[st.target]]
        basis = [BASE_PROGRESS[st.progress].format(**w), *self.company(ent)]
        return Form(self.base_title(w, st.title, st.suffix), {CONTENT: content, TARGET: target, BASIS: basis})

    def synonyms(self, text: str) -> str:
        return _SYNONYM_RE.sub(lambda m: self.rng.choice(SYNONYMS[m[0]]) if self.rng.random() < 0.8 else m[0], text)

    # --- the tiers ---------------------------------------------------------------------------------------------
    def other(self, base: Row) -> Enterprise:
        return self.registry.pick(self.topics[base.need.topic].group, avoid=base.ent)

    def verbatim(self, base: Row) -> Row:
        ent = base.ent if self.rng.random() < SAME_ENTERPRISE else self.other(base)
        title = self.retype(base.title) if self.rng.random() < 0.3 else base.title
        text = self.retype(base.text) if self.rng.random() < 0.8 else base.text
        return Row(base.need, base.style, ent, title, text)

    def retype(self, text: str) -> str:
        rng, out = self.rng, text
        for op in rng.sample(range(4), rng.randint(1, 2)):
            if op == 0:
                out = out.translate(_HALF)
            elif op == 1:
                out = out.translate(_WIDE_DIGITS)
            elif op == 2:
                out = out.replace("。", "。 ", rng.randint(1, 3)).replace("\n", " \n")
            else:
                out = " " + out.replace("\n", "\r\n") + "  "
        return out

    def light_edit(self, base: Row) -> Row:
        """Another enterprise's copy: one number moved, 2-3 words changed, a sentence added or dropped at an end."""
        rng, ent = self.rng, self.other(base)
        nd = self.nudge(base.need)
        form = self.render(nd, base.style, ent)
        body = "".join(form.sections[CONTENT]) + "\n" + "".join(form.sections[TARGET])
        present = sorted(k for k in LIGHT_WORDS if k in body)
        for key in rng.sample(present, min(rng.randint(2, 3), len(present))):
            body = body.replace(key, LIGHT_WORDS[key], 1)
        content, target = body.split("\n")
        if rng.random() < 0.5:
            content += rng.choice(EXTRA_SENTENCES).format(k=rng.randint(1, 3))
        else:  # drop the last sentence of 预期目标 (every frame has at least two)
            target = target[: target[:-1].rfind("。") + 1]
        form.sections |= {CONTENT: [content], TARGET: [target]}
        return Row(nd, base.style, ent, form.title, form.text())

    def nudge(self, nd: Need) -> Need:
        """One number changed slightly: an indicator to its neighbouring value, or the patent count by one."""
        i = self.rng.randrange(len(nd.inds))
        ind, k = nd.inds[i]
        values = self.topics[nd.topic].indicators[ind][3]
        if len(values) > 1 and self.rng.random() < 0.7:
            k = k + 1 if k + 1 < len(values) else k - 1
            return replace(nd, inds=(*nd.inds[:i], (ind, k), *nd.inds[i + 1 :]))
        return replace(nd, pat=nd.pat + 1 if nd.pat == 1 or self.rng.random() < 0.5 else nd.pat - 1)

    def reordered(self, base: Row) -> Row:
        rng, ent, st = self.rng, self.other(base), base.style
        form = self.render(base.need, st, ent)
        for label, sentences in form.sections.items():
            original = sentences[:]
            while len(sentences) > 1 and sentences == original:
                rng.shuffle(sentences)
            form.sections[label] = sentences
        form.order = rng.choice([o for o in _orders() if o != SECTIONS])
        w = self.words(base.need, st.alias)
        titles = {self.base_title(w, p, x) for p in range(len(BASE_TITLES)) for x in range(5)} - {base.title}
        form.title = rng.choice(sorted(titles)) if titles else base.title
        return Row(base.need, st, ent, form.title, form.text())

    def paraphrase(self, base: Row) -> Row:
        rng, nd, ent = self.rng, base.need, self.other(base)
        topic = self.topics[nd.topic]
        shift = (-1, 0, 0, 0, 0, 0, 0, 1)  # mostly the same value, sometimes the neighbouring one
        inds = [(i, min(max(k + rng.choice(shift), 0), len(topic.indicators[i][3]) - 1)) for i, k in nd.inds]
        rng.shuffle(inds)
        nd = replace(nd, inds=tuple(inds), approaches=tuple(rng.sample(nd.approaches, 3)))
        alias = 1 - base.style.alias
        w = self.words(nd, alias)
        for key in ("proc", "a1", "a2", "a3", "p1", "p2"):
            w[key] = self.synonyms(w[key])
        w["pat"] = rng.choice((str(nd.pat), f"{nd.pat}～{nd.pat + 1}", f"不少于{nd.pat}"))
        w["spent"] = str(max(50, round(nd.spent / 50) * 50))
        w |= self.indicators(nd, PARA_OPS, rng.randrange(3), alias, "形成一套成熟、可推广的方案")
        content = [x.format(**w) for x in rng.choice(PARA_CONTENT)]
        target = [x.format(**w) for x in rng.choice(PARA_TARGET)]
        basis = [*self.company(ent), rng.choice(PARA_PROGRESS).format(**w)]
        title = rng.choice(PARA_TITLES).format(**w).replace("技术技术", "技术")
        return Row(nd, base.style, ent, title, Form(title, {CONTENT: content, TARGET: target, BASIS: basis}).text())

    def hard_negative(self, base: Row) -> Row:
        nd = base.need
        siblings = [o for o in range(len(self.topics[nd.topic].fields["objects"])) if o != nd.obj]
        fresh = [o for o in siblings if (nd.topic, o, nd.proc) not in self.used]
        nd = replace(nd, obj=self.rng.choice(fresh or siblings))
        self.used.add((nd.topic, nd.obj, nd.proc))
        ent = self.other(base)
        form = self.render(nd, base.style, ent)
        return Row(nd, base.style, ent, form.title, form.text())

    # --- the call ----------------------------------------------------------------------------------------------
    def run(self, n_base: int) -> tuple[pd.DataFrame, pd.DataFrame]:
        rows = []
        for t, o, p in self.keys(n_base):
            self.used.add((t, o, p))
            nd, st = self.new_need(t, o, p), self.new_style()
            ent = self.registry.pick(self.topics[t].group)
            form = self.render(nd, st, ent)
            rows.append(Row(nd, st, ent, form.title, form.text()))
        per_tier = max(1, round(TIER_SHARE * n_base)) if n_base >= 10 else 0
        makers = {VERBATIM: self.verbatim, LIGHT_EDIT: self.light_edit, REORDERED: self.reordered,
                  PARAPHRASE: self.paraphrase, HARD_NEGATIVE: self.hard_negative}  # fmt: skip
        for tier, src in self.plan(n_base, per_tier):
            rows.append(replace(makers[tier](rows[src]), tier=tier, source=src))
        return self.frames(rows, n_base)

    def plan(self, n_base: int, per_tier: int) -> list[tuple[str, int]]:
        """(tier, source row) of every planted row; a source gets at most one row per tier."""
        rng = self.rng
        tiers = [t for t in DUP_TIERS for _ in range(per_tier)]
        rng.shuffle(tiers)
        fresh = iter(rng.sample(range(n_base), n_base))
        sets: dict[int, list[str]] = {}
        for tier in tiers:
            joinable = [src for src, ts in sets.items() if len(ts) < 2 and tier not in ts]
            src = rng.choice(joinable) if joinable and rng.random() < TRIPLE_SHARE else next(fresh, -1)
            if src < 0:
                break
            sets.setdefault(src, []).append(tier)
        planted = [(tier, src) for src, ts in sets.items() for tier in ts]
        planted += [(HARD_NEGATIVE, src) for src in rng.sample(range(n_base), min(per_tier, n_base))]
        return planted

    def frames(self, rows: list[Row], n_base: int) -> tuple[pd.DataFrame, pd.DataFrame]:
        order = list(range(len(rows)))
        self.rng.shuffle(order)
        salt = self.rng.getrandbits(64)
        ids = [""] * len(rows)
        for pos, r in enumerate(order):
            ids[r] = "D" + hashlib.sha256(f"dup-tiers|{salt}|{n_base}|{pos}".encode()).hexdigest()[:16]
        roots = {row.source for row in rows if row.tier in DUP_TIERS}
        names: dict[int, str] = {}  # dup_set of each base with copies, numbered in file order
        demands, truth = [], []
        for r in order:
            row = rows[r]
            root = row.source if row.tier in DUP_TIERS else r if r in roots else -1
            dup_set = names.setdefault(root, f"S{len(names) + 1:05d}") if root >= 0 else ""
            demands.append((ids[r], row.title, row.text, row.ent.name))
            key = self.topics[row.need.topic].need_key(row.need.obj, row.need.proc)
            truth.append((ids[r], dup_set, row.tier, ids[row.source] if row.source >= 0 else "", key))
        return pd.DataFrame(demands, columns=DEMAND_COLUMNS), pd.DataFrame(truth, columns=TRUTH_COLUMNS)


def _orders() -> list[tuple[str, ...]]:
    a, b, c = SECTIONS
    return [(a, b, c), (a, c, b), (b, a, c), (b, c, a), (c, a, b), (c, b, a)]


def make_tiers(n_base: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(demands, truth) of a generated call: `n_base` base demands plus planted rows, in shuffled order.

    demands: demand_id ("D" + 16 hex, unique), title, text (需求内容 / 预期目标 / 现有工作基础 sections, one per
    line, "标签：" prefixed), enterprise. truth: demand_id; dup_set ("" or "S#####", shared by a base and its
    duplicate copies); tier ("" for base and unrelated demands, else one of `TIERS`); base_id (the base a planted
    row derives from, "" otherwise); need_key ("chain:object/process" in canonical words: shared by a base and its
    copies, and by two base demands only once `n_base` exceeds the vocabulary's 1787 object/process pairs). Hard
    negatives never share a dup_set, nor a need_key, with their base.
    """
    if n_base < 0:
        raise ValueError(f"n_base must be >= 0, got {n_base}")
    return _Maker(seed).run(n_base)
