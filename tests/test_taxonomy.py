"""The shipped taxonomy data and its loader: contents, the +N extension file, validation errors, lookups."""

import hashlib
from pathlib import Path
from typing import Any

import pydantic
import pytest
import yaml

from pipelines.errors import ConfigError
from pipelines.paths import TAXONOMY_FILE
from pipelines.taxonomy import INDUSTRY_IDS, Taxonomy, load_taxonomy

EXAMPLE_N_FILE = TAXONOMY_FILE.parent / "example-n-chains.yaml"

# The seed's chain ids (../shared/taxonomy/sichuan-15n-seed.yaml): labelled demands and staff corrections use them.
SEED_CHAIN_IDS = [
    "EI-IC",
    "EI-DISP",
    "EI-SW",
    "EI-AI",
    "EI-TERM",
    "EM-AERO",
    "EM-NEV",
    "EM-ENERGY",
    "EM-RAIL",
    "EM-SMART",
    "EC-BATT",
    "EC-NEWENERGY",
    "EC-GASCHEM",
    "AM-CHEMMAT",
    "AM-BUILD",
    "AM-VTI",
    "AM-RE",
    "FT-BAIJIU",
    "FT-FOOD",
    "FT-TEXTILE",
    "MH-PHARMA",
]


@pytest.fixture(scope="module")
def shipped() -> Taxonomy:
    return load_taxonomy(TAXONOMY_FILE)


# --- the shipped file ----------------------------------------------------------------------------------------


def test_shipped_file_keeps_exactly_the_seed_ids(shipped: Taxonomy) -> None:
    assert [c.id for c in shipped.chains] == SEED_CHAIN_IDS
    assert sorted(i.id for i in shipped.industries) == sorted(INDUSTRY_IDS)
    assert all(c.id.startswith(c.industry_id + "-") for c in shipped.chains)
    assert isinstance(shipped.version, str) and shipped.version


def test_every_chain_and_industry_has_scope_phrases(shipped: Taxonomy) -> None:
    for chain in shipped.chains:
        assert 5 <= len(chain.scope) <= 12, chain.id
        assert all(10 <= len(p) <= 30 for p in chain.scope), chain.id
        assert chain.keywords and chain.name and chain.source_note, chain.id
    for industry in shipped.industries:
        assert len(industry.scope) >= 5, industry.id
        assert industry.keywords, industry.id


def test_outside_prototypes_no_chain_and_rules_are_present(shipped: Taxonomy) -> None:
    ids = {o.id for o in shipped.outside}
    assert {"NONE-AGRI", "NONE-ENV", "NONE-MINING", "NONE-CONSTR", "NONE-CLINIC"} <= ids
    assert all(len(o.scope) >= 5 and o.keywords for o in shipped.outside)
    assert set(shipped.no_chain) == set(INDUSTRY_IDS)
    rules = {term: rule for rule in shipped.conflict_rules for term in rule.terms}
    assert (rules["钒电池"].prefer, rules["钒电池"].over) == ("EC-BATT", ("AM-VTI",))
    assert (rules["光伏玻璃"].prefer, rules["光伏玻璃"].secondary) == ("AM-BUILD", "EC-NEWENERGY")
    assert (rules["燃料电池汽车"].prefer, rules["燃料电池汽车"].secondary) == ("EM-NEV", "EC-NEWENERGY")
    assert rules["碳化硅MOSFET"].prefer == "EI-IC"
    assert shipped.resolve(rules["碳化硅磨料"].prefer) == ("AM", None)


def test_source_hash_is_the_sha256_of_the_file(shipped: Taxonomy) -> None:
    assert shipped.source_hash == hashlib.sha256(TAXONOMY_FILE.read_bytes()).hexdigest()


def test_models_are_frozen(shipped: Taxonomy) -> None:
    chain: Any = shipped.chain("EI-IC")
    with pytest.raises(pydantic.ValidationError):
        chain.name = "改名"


# --- the +N extension file -----------------------------------------------------------------------------------


def test_extra_file_adds_n_chains_as_data() -> None:
    taxonomy = load_taxonomy(TAXONOMY_FILE, [EXAMPLE_N_FILE])
    ids = [c.id for c in taxonomy.chains]
    assert set(ids) - set(SEED_CHAIN_IDS) == {"EM-LOWALT", "MH-NUCMED"}
    assert ids.index("EM-LOWALT") < ids.index("EC-BATT")  # listed under its industry
    assert taxonomy.chain("EM-LOWALT").industry_id == "EM"
    assert taxonomy.chain_name("MH-NUCMED") == "核医疗"
    assert taxonomy.is_valid("MH", "MH-NUCMED") and not taxonomy.is_valid("EM", "MH-NUCMED")
    assert any(rule.prefer == "MH-NUCMED" for rule in taxonomy.conflict_rules)
    both = TAXONOMY_FILE.read_bytes() + EXAMPLE_N_FILE.read_bytes()
    assert taxonomy.source_hash == hashlib.sha256(both).hexdigest()
    assert taxonomy.version == load_taxonomy(TAXONOMY_FILE).version + "+2026.11-n1"  # names both files


# --- validation ------------------------------------------------------------------------------------------------


def _minimal() -> dict[str, Any]:
    """A small valid taxonomy: the six industries, one chain each, one outside prototype, one rule."""
    return {
        "version": "t-1",
        "industries": [
            {"id": i, "name": f"产业{i}", "scope": ["产业范围"], "chains": [{"id": f"{i}-A", "name": f"链{i}"}]}
            for i in INDUSTRY_IDS
        ],
        "outside": [{"id": "NONE-AGRI", "name": "农业", "scope": ["种植养殖"], "keywords": ["种植"]}],
        "no_chain": {"AM": ["磨料磨具"]},
        "conflict_rules": [{"terms": ["钒电池"], "prefer": "EC-A", "over": ["AM-A"]}],
    }


def _write(tmp_path: Path, name: str, content: dict[str, Any] | str) -> Path:
    path = tmp_path / name
    text = content if isinstance(content, str) else yaml.safe_dump(content, allow_unicode=True, sort_keys=False)
    path.write_text(text, encoding="utf-8")
    return path


def test_minimal_file_with_documentation_sections_loads(tmp_path: Path) -> None:
    content = _minimal() | {"plus_n": {"candidates": ["低空经济"]}, "sources": ["a"], "generated_for": "x"}
    taxonomy = load_taxonomy(_write(tmp_path, "ok.yaml", content))
    assert len(taxonomy.chains) == 6
    assert taxonomy.no_chain == {"AM": ("磨料磨具",)}


def _broken(mutate: str) -> dict[str, Any]:
    content = _minimal()
    chains = content["industries"][0]["chains"]
    if mutate == "unknown_top_level":
        content["chain_rules"] = []
    elif mutate == "unknown_industry":
        content["industries"][0]["id"] = "XX"
    elif mutate == "missing_industry":
        content["industries"].pop()
    elif mutate == "duplicate_chain":
        chains.append({"id": "EI-A", "name": "另一条"})
    elif mutate == "chain_prefix":
        chains.append({"id": "EM-B", "name": "放错产业"})
    elif mutate == "rule_unknown_id":
        content["conflict_rules"][0]["over"] = ["AM-ZZ"]
    elif mutate == "empty_chain_name":
        chains[0]["name"] = "  "
    elif mutate == "empty_industry_name":
        content["industries"][1]["name"] = ""
    elif mutate == "missing_version":
        del content["version"]
    elif mutate == "numeric_version":
        content["version"] = 0.1
    elif mutate == "outside_id":
        content["outside"][0]["id"] = "AGRI"
    elif mutate == "no_chain_key":
        content["no_chain"] = {"XX": ["短语"]}
    elif mutate == "rule_secondary_not_chain":
        content["conflict_rules"][0]["secondary"] = "EC"
    return content


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        ("unknown_top_level", "chain_rules"),
        ("unknown_industry", "XX"),
        ("missing_industry", "缺少产业 MH"),
        ("duplicate_chain", "EI-A"),
        ("chain_prefix", "EM-B"),
        ("rule_unknown_id", "AM-ZZ"),
        ("empty_chain_name", "不能为空"),
        ("empty_industry_name", "不能为空"),
        ("missing_version", "version"),
        ("numeric_version", "version"),
        ("outside_id", "AGRI"),
        ("no_chain_key", "XX"),
        ("rule_secondary_not_chain", "secondary"),
    ],
)
def test_invalid_file_raises_config_error_naming_the_file(tmp_path: Path, mutate: str, expected: str) -> None:
    path = _write(tmp_path, f"bad-{mutate}.yaml", _broken(mutate))
    with pytest.raises(ConfigError) as info:
        load_taxonomy(path)
    assert str(path) in str(info.value)
    assert expected in str(info.value)


def test_yaml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "syntax.yaml", 'version: "1"\nindustries:\n  - id: EI\n    name: [电子信息\n')
    with pytest.raises(ConfigError, match=r"syntax\.yaml.*第 \d+ 行"):
        load_taxonomy(path)


@pytest.mark.parametrize("text", ["- 只是一个列表\n", "", "就是一段文字\n"])
def test_top_level_must_be_a_mapping(tmp_path: Path, text: str) -> None:
    path = _write(tmp_path, "flat.yaml", text)
    with pytest.raises(ConfigError, match=r"flat\.yaml"):
        load_taxonomy(path)


def test_missing_file_raises_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nowhere\.yaml"):
        load_taxonomy(tmp_path / "nowhere.yaml")


def test_nested_schema_error_names_the_entry(tmp_path: Path) -> None:
    content = _minimal()
    content["industries"][2]["chains"][0]["colour"] = "红"
    path = _write(tmp_path, "nested.yaml", content)
    with pytest.raises(ConfigError, match=r"nested\.yaml.*FT-A.*colour"):
        load_taxonomy(path)


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({"industries": [{"id": "EI", "chains": [{"id": "EI-A", "name": "重定义"}]}]}, "EI-A"),
        ({"industries": [{"id": "XX", "chains": [{"id": "XX-A", "name": "新产业"}]}]}, "XX"),
        ({"industries": [{"id": "EI", "name": "别名", "chains": []}]}, "别名"),
        ({"conflict_rules": [{"terms": ["词"], "prefer": "EI-N", "over": []}]}, "EI-N"),
        ({"outside": [{"id": "NONE-AGRI", "name": "再来一次"}]}, "NONE-AGRI"),
    ],
)
def test_extra_file_may_not_redefine_or_invent(tmp_path: Path, extra: dict[str, Any], expected: str) -> None:
    base = _write(tmp_path, "base.yaml", _minimal())
    path = _write(tmp_path, "extra.yaml", extra)
    with pytest.raises(ConfigError) as info:
        load_taxonomy(base, [path])
    assert str(path) in str(info.value) and expected in str(info.value)


def test_extra_file_may_extend_outside_and_rules(tmp_path: Path) -> None:
    extra = {
        "industries": [{"id": "EM", "chains": [{"id": "EM-N", "name": "新链", "scope": ["新链范围"]}]}],
        "outside": [{"id": "NONE-EDU", "name": "教育"}],
        "no_chain": {"AM": ["耐火材料"]},
        "conflict_rules": [{"terms": ["词"], "prefer": "EM-N", "over": ["NONE-EDU"]}],
    }
    taxonomy = load_taxonomy(_write(tmp_path, "base.yaml", _minimal()), [_write(tmp_path, "n.yaml", extra)])
    assert [c.id for c in taxonomy.industry("EM").chains] == ["EM-A", "EM-N"]
    assert [o.id for o in taxonomy.outside] == ["NONE-AGRI", "NONE-EDU"]
    assert taxonomy.no_chain["AM"] == ("磨料磨具", "耐火材料")
    assert taxonomy.resolve("NONE-EDU") == ("NONE", "NONE")


# --- lookups -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("industry_id", "chain_id", "valid"),
    [
        ("NONE", "NONE", True),
        ("EI", "NONE", True),
        ("MH", "NONE", True),
        ("EI", "EI-IC", True),
        ("EC", "EC-BATT", True),
        ("AM", "EC-BATT", False),
        ("NONE", "EI-IC", False),
        ("XX", "NONE", False),
        ("EI", "EI-ZZ", False),
        ("EI", "", False),
        ("", "", False),
    ],
)
def test_is_valid_truth_table(shipped: Taxonomy, industry_id: str, chain_id: str, valid: bool) -> None:
    assert shipped.is_valid(industry_id, chain_id) is valid


def test_names_and_lookups(shipped: Taxonomy) -> None:
    assert shipped.industry_name("NONE") == "六大产业之外"
    assert shipped.chain_name("NONE") == "无对应重点产业链"
    assert shipped.industry_name("AM") == "先进材料"
    assert shipped.chain_name("EI-IC") == "集成电路"
    assert shipped.industry("FT").chains[0].id == "FT-BAIJIU"
    assert shipped.resolve("EC-BATT") == ("EC", "EC-BATT")
    with pytest.raises(KeyError):
        shipped.industry("XX")
    with pytest.raises(KeyError):
        shipped.chain("EI-ZZ")


def test_terms_is_the_sorted_user_dictionary(shipped: Taxonomy) -> None:
    terms = shipped.terms()
    assert terms == sorted(set(terms))
    for known in ["集成电路", "钕铁硼", "全钒液流电池", "电子信息", "氢能", "有色金属", "低空经济", "有机肥"]:
        assert known in terms, known
    assert not [t for t in terms if not t.strip() or " " in t or "(" in t]
