"""The industry / key-chain taxonomy (data/taxonomy/*.yaml): frozen models and a validating loader.

Label ids used in conflict rules: a chain id ("EC-BATT": that industry and chain), an industry id ("AM": that
industry, chain left to the mapper, possibly NONE), or NONE / an outside prototype id ("NONE-AGRI": outside the six
industries). `Taxonomy.resolve` turns a label id into (industry_id, chain_id or None). A rule's `secondary` is
always a chain id (or None).
"""

import hashlib
import re
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, NoReturn, cast

import yaml
from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationError

from .errors import ConfigError
from .schema import NONE

INDUSTRY_IDS = ("EI", "EM", "FT", "EC", "AM", "MH")
NONE_INDUSTRY_NAME = "六大产业之外"
NONE_CHAIN_NAME = "无对应重点产业链"
OUTSIDE_PREFIX = NONE + "-"
# documentation sections a taxonomy file may carry; the loader accepts and ignores them
_DOCS = "generated_for description notes sources plus_n new_tracks_25 historical_reference mapping_rules_suggested"
DOC_SECTIONS = frozenset(_DOCS.split())

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
Texts = tuple[Text, ...]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Chain(_Frozen):
    id: Text
    name: Text
    industry_id: Text
    status: Text = "confirmed"
    keywords: Texts = ()
    scope: Texts = ()
    source_note: str = ""


class Industry(_Frozen):
    id: Text
    name: Text
    scope: Texts
    keywords: Texts
    chains: tuple[Chain, ...]


class OutsidePrototype(_Frozen):
    id: Text
    name: Text
    scope: Texts = ()
    keywords: Texts = ()


class ConflictRule(_Frozen):
    terms: tuple[Text, ...]
    prefer: Text
    over: Texts = ()
    secondary: Text | None = None
    note: str = ""


class Taxonomy(_Frozen):
    version: str
    industries: tuple[Industry, ...]
    outside: tuple[OutsidePrototype, ...]
    no_chain: dict[str, Texts]
    conflict_rules: tuple[ConflictRule, ...]
    source_hash: str  # sha256 of the file bytes (of all files, in load order, when extras are merged)

    @cached_property
    def _chain_index(self) -> dict[str, Chain]:
        return {c.id: c for c in self.chains}

    @property
    def chains(self) -> tuple[Chain, ...]:
        """All chains, in file order (extra files' chains after their industry's own)."""
        return tuple(c for ind in self.industries for c in ind.chains)

    def industry(self, industry_id: str) -> Industry:
        return {ind.id: ind for ind in self.industries}[industry_id]

    def chain(self, chain_id: str) -> Chain:
        return self._chain_index[chain_id]

    def industry_name(self, industry_id: str) -> str:
        return NONE_INDUSTRY_NAME if industry_id == NONE else self.industry(industry_id).name

    def chain_name(self, chain_id: str) -> str:
        return NONE_CHAIN_NAME if chain_id == NONE else self.chain(chain_id).name

    def is_valid(self, industry_id: str, chain_id: str) -> bool:
        """NONE/NONE, X/NONE for one of the six X, and X/a chain of X are valid; anything else is not."""
        if industry_id == NONE:
            return chain_id == NONE
        if industry_id not in INDUSTRY_IDS:
            return False
        if chain_id == NONE:
            return True
        found = self._chain_index.get(chain_id)
        return found is not None and found.industry_id == industry_id

    def resolve(self, label: str) -> tuple[str, str | None]:
        """A conflict-rule label id -> (industry_id, chain_id); chain None means "any chain of it, or NONE"."""
        if label == NONE or label in {o.id for o in self.outside}:
            return NONE, NONE
        if label in INDUSTRY_IDS:
            return label, None
        return self.chain(label).industry_id, label

    def terms(self) -> list[str]:
        """The jieba user dictionary: keywords, name parts and conflict terms, deduplicated and sorted.

        Terms containing whitespace cannot be dictionary entries and are left out.
        """
        words: set[str] = set()
        for ind in self.industries:
            words.update(_name_parts(ind.name), ind.keywords)
            for chain in ind.chains:
                words.update(_name_parts(chain.name), chain.keywords)
        for proto in self.outside:
            words.update(_name_parts(proto.name), proto.keywords)
        for rule in self.conflict_rules:
            words.update(rule.terms)
        return sorted(w for w in words if w and not re.search(r"\s", w))


def _name_parts(name: str) -> list[str]:
    """ "新能源(光伏·风电·氢能)" -> 新能源, 光伏, 风电, 氢能 (plus the whole name when it has no separator)."""
    parts = [re.sub(r"^含", "", p) for p in re.split(r"[()（）·、/,，;；\s及]+", name) if p]
    whole = [name] if re.fullmatch(r"[\w+\-]+", name) else []
    return [p for p in whole + parts if p]


# --- file schema ---------------------------------------------------------------------------------------------


class _ChainEntry(_Frozen):
    id: Text
    name: Text
    industry_id: Text | None = None
    status: Text = "confirmed"
    keywords: Texts = ()
    scope: Texts = ()
    source_note: str = ""


class _IndustryEntry(_Frozen):
    id: Text
    name: Text | None = None
    scope: Texts = ()
    keywords: Texts = ()
    chains: tuple[_ChainEntry, ...] = ()


class _File(_Frozen):
    version: Text | None = None
    industries: tuple[_IndustryEntry, ...] = ()
    industry_keywords: dict[str, Texts] = {}
    outside: tuple[OutsidePrototype, ...] = ()
    no_chain: dict[str, Texts] = {}
    conflict_rules: tuple[ConflictRule, ...] = ()


_PROBLEMS = {
    "missing": "缺少必填字段",
    "extra_forbidden": "是不认识的字段（请检查拼写和缩进）",
    "string_too_short": "不能为空",
    "string_type": "应为文本（纯数字请加引号）",
    "tuple_type": "应为列表",
    "list_type": "应为列表",
    "dict_type": "应为键值映射",
    "model_type": "应为键值映射",
}


def _explain(path: Path, raw: dict[str, Any], exc: ValidationError) -> str:
    """The first validation error as Chinese text: "industries[0].chains[2](EI-SW).name 不能为空"."""
    err = exc.errors()[0]
    if err["type"] == "extra_forbidden" and len(err["loc"]) == 1:
        allowed = "、".join([*_File.model_fields, *sorted(DOC_SECTIONS)])
        return f"分类体系文件 {path}：不认识的顶层字段 “{err['loc'][0]}”（可用字段：{allowed}）"
    where, node = "", cast(Any, raw)
    for part in err["loc"]:
        where += f"[{part}]" if isinstance(part, int) else f".{part}"
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            node = None
        if isinstance(node, dict) and isinstance(node.get("id"), str):
            where += f"({node['id']})"
    return f"分类体系文件 {path}：{where.lstrip('.')} {_PROBLEMS.get(err['type'], str(err['msg']))}"


def _read(path: Path) -> tuple[bytes, _File]:
    """The file's bytes (for the hash) and its parsed, schema-checked content."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"分类体系文件 {path} 无法读取：{exc.strerror or exc}") from exc
    try:
        raw = yaml.safe_load(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"分类体系文件 {path} 不是 UTF-8 编码，请另存为 UTF-8") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"第 {mark.line + 1} 行" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "无法解析"
        raise ConfigError(f"分类体系文件 {path} {where} YAML 语法错误：{problem}（请检查缩进、冒号和引号）") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"分类体系文件 {path} 顶层应为键值映射（version、industries 等字段）")
    try:
        return data, _File.model_validate({k: v for k, v in raw.items() if k not in DOC_SECTIONS})
    except ValidationError as exc:
        raise ConfigError(_explain(path, raw, exc)) from exc


def _fail(path: Path, problem: str) -> NoReturn:
    raise ConfigError(f"分类体系文件 {path}：{problem}")


class _Builder:
    """Accumulates the base file and the extra files in order, checking ids as it goes."""

    def __init__(self, path: Path, base: _File) -> None:
        if base.version is None:
            _fail(path, '缺少 version（版本号，如 "2026.11-1"）')
        self.version = base.version
        ids = [ind.id for ind in base.industries]
        self._check_industry_ids(path, ids)
        if missing := [i for i in INDUSTRY_IDS if i not in ids]:
            _fail(path, f"缺少产业 {'、'.join(missing)}（六大产业必须齐全）")
        if nameless := [ind.id for ind in base.industries if ind.name is None]:
            _fail(path, f"产业 {'、'.join(nameless)} 缺少 name（名称）")
        self.names = {ind.id: str(ind.name) for ind in base.industries}
        self.scope: dict[str, list[str]] = {i: [] for i in ids}
        self.keywords: dict[str, list[str]] = {i: [] for i in ids}
        self.chains: dict[str, list[Chain]] = {i: [] for i in ids}
        self.no_chain: dict[str, list[str]] = {}
        self.chain_file: dict[str, Path] = {}
        self.outside: dict[str, tuple[Path, OutsidePrototype]] = {}
        self.rules: list[tuple[Path, ConflictRule]] = []
        self.merge(path, base)

    @staticmethod
    def _check_industry_ids(path: Path, ids: Sequence[str]) -> None:
        if unknown := [i for i in ids if i not in INDUSTRY_IDS]:
            _fail(path, f"未知产业 id “{unknown[0]}”，产业 id 只能是 {'、'.join(INDUSTRY_IDS)}")
        if dup := sorted({i for i in ids if ids.count(i) > 1}):
            _fail(path, f"产业 id {'、'.join(dup)} 重复出现")

    def merge(self, path: Path, f: _File) -> None:
        self._check_industry_ids(path, [ind.id for ind in f.industries])
        for ind in f.industries:
            if ind.name is not None and ind.name != self.names[ind.id]:
                _fail(path, f"产业 {ind.id} 的名称 “{ind.name}” 与主文件中的 “{self.names[ind.id]}” 不一致")
            self.scope[ind.id].extend(ind.scope)
            self.keywords[ind.id].extend(ind.keywords)
            for entry in ind.chains:
                self._add_chain(path, ind.id, entry)
        for section, mapping, target in (
            ("industry_keywords", f.industry_keywords, self.keywords),
            ("no_chain", f.no_chain, self.no_chain),
        ):
            for key, words in mapping.items():
                if key not in INDUSTRY_IDS:
                    _fail(path, f"{section} 中的 “{key}” 不是产业 id（{'、'.join(INDUSTRY_IDS)}）")
                target.setdefault(key, []).extend(words)
        for proto in f.outside:
            if not proto.id.startswith(OUTSIDE_PREFIX):
                _fail(path, f"outside 原型 id “{proto.id}” 应以 {OUTSIDE_PREFIX} 开头")
            if proto.id in self.outside:
                _fail(path, f"outside 原型 id “{proto.id}” 重复（已在 {self.outside[proto.id][0]} 中定义）")
            self.outside[proto.id] = (path, proto)
        self.rules.extend((path, rule) for rule in f.conflict_rules)

    def _add_chain(self, path: Path, industry_id: str, entry: _ChainEntry) -> None:
        if not entry.id.startswith(industry_id + "-") or entry.id == industry_id + "-":
            _fail(path, f"产业链 id “{entry.id}” 应以所属产业 “{industry_id}-” 开头")
        if entry.industry_id not in (None, industry_id):
            _fail(path, f"产业链 {entry.id} 的 industry_id 与所在产业 {industry_id} 不符")
        if entry.id in self.chain_file:
            _fail(path, f"产业链 id “{entry.id}” 重复（已在 {self.chain_file[entry.id]} 中定义）")
        self.chain_file[entry.id] = path
        fields = entry.model_dump(exclude={"industry_id"})
        self.chains[industry_id].append(Chain(industry_id=industry_id, **fields))

    def _check_rules(self) -> None:
        labels = {NONE, *INDUSTRY_IDS, *self.chain_file, *self.outside}
        for path, rule in self.rules:
            name = "/".join(rule.terms[:3])
            used = [rule.prefer, *rule.over, *([rule.secondary] if rule.secondary else [])]
            if unknown := [label for label in used if label not in labels]:
                hint = "应为产业链 id、产业 id、outside 原型 id 或 NONE"
                _fail(path, f"冲突规则 {name} 引用了不存在的 id {'、'.join(unknown)}（{hint}）")
            if rule.secondary is not None and rule.secondary not in self.chain_file:
                _fail(path, f"冲突规则 {name} 的 secondary “{rule.secondary}” 应为产业链 id 或留空（null）")
            if rule.prefer in rule.over:
                _fail(path, f"冲突规则 {name} 的 prefer “{rule.prefer}” 同时出现在 over 中")

    def build(self, source_hash: str) -> Taxonomy:
        self._check_rules()
        industries = tuple(
            Industry(
                id=i,
                name=name,
                scope=tuple(self.scope[i]),
                keywords=tuple(dict.fromkeys(self.keywords[i])),
                chains=tuple(self.chains[i]),
            )
            for i, name in self.names.items()
        )
        return Taxonomy(
            version=self.version,
            industries=industries,
            outside=tuple(proto for _, proto in self.outside.values()),
            no_chain={k: tuple(v) for k, v in self.no_chain.items()},
            conflict_rules=tuple(rule for _, rule in self.rules),
            source_hash=source_hash,
        )


def load_taxonomy(path: Path, extra: Sequence[Path] = ()) -> Taxonomy:
    """Load the taxonomy at `path` plus `extra` files that add chains, prototypes and rules.

    Any problem raises ConfigError with a Chinese message naming the file; the result is immutable. Its version
    is the main file's, followed by "+<version>" of each extra file.
    """
    data, content = _read(path)
    digest = hashlib.sha256(data)
    builder = _Builder(path, content)
    for extra_path in extra:
        data, content = _read(extra_path)
        digest.update(data)
        builder.merge(extra_path, content)
        builder.version += f"+{content.version or extra_path.stem}"  # a mapping names every file it used
    return builder.build(digest.hexdigest())
