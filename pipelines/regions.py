"""Sichuan's 21 市州 (prefecture-level divisions) and the normalisation of free-text region cells to them.

`normalize_region("四川省成都市高新区") == "成都市"`; a value that names no Sichuan 市州 gives None (the caller keeps
the raw value and flags it). Pure functions over str; no state.
"""

import re
import unicodedata

SICHUAN_PREFECTURES: tuple[str, ...] = (
    "成都市",
    "自贡市",
    "攀枝花市",
    "泸州市",
    "德阳市",
    "绵阳市",
    "广元市",
    "遂宁市",
    "内江市",
    "乐山市",
    "南充市",
    "眉山市",
    "宜宾市",
    "广安市",
    "达州市",
    "雅安市",
    "巴中市",
    "资阳市",
    "阿坝藏族羌族自治州",
    "甘孜藏族自治州",
    "凉山彝族自治州",
)

# Short forms of the autonomous prefectures, and county-level cities people write instead of their 市州.
_EXTRA_ALIASES: tuple[tuple[str, str], ...] = (
    ("阿坝州", "阿坝藏族羌族自治州"),
    ("阿坝", "阿坝藏族羌族自治州"),
    ("马尔康", "阿坝藏族羌族自治州"),
    ("甘孜州", "甘孜藏族自治州"),
    ("甘孜", "甘孜藏族自治州"),
    ("康定", "甘孜藏族自治州"),
    ("凉山州", "凉山彝族自治州"),
    ("凉山", "凉山彝族自治州"),
    ("西昌", "凉山彝族自治州"),
    ("会理", "凉山彝族自治州"),
    ("都江堰", "成都市"),
    ("彭州", "成都市"),
    ("邛崃", "成都市"),
    ("崇州", "成都市"),
    ("简阳", "成都市"),
    ("广汉", "德阳市"),
    ("什邡", "德阳市"),
    ("绵竹", "德阳市"),
    ("江油", "绵阳市"),
    ("峨眉山", "乐山市"),
    ("阆中", "南充市"),
    ("华蓥", "广安市"),
    ("万源", "达州市"),
    ("隆昌", "内江市"),
    ("射洪", "遂宁市"),
)

# Another province or municipality named first: "北京市西城区广安门" is not 广安市.
_OTHER_PLACE_RE = re.compile(r"^(?:中国)?(?:北京|上海|天津|重庆|[^四]\S{1,2}省|\S{2,6}自治区|香港|澳门|台湾)")


def _aliases() -> list[tuple[str, str]]:
    """(alias, full name) pairs: the full names, their forms without 市, and the extra aliases."""
    pairs = [(name, name) for name in SICHUAN_PREFECTURES]
    pairs += [(name[:-1], name) for name in SICHUAN_PREFECTURES if name.endswith("市")]
    return pairs + list(_EXTRA_ALIASES)


def normalize_region(raw: str) -> str | None:
    """The full name of the Sichuan 市州 that `raw` names, or None when it names none (or is blank).

    The alias found earliest in the text wins, the longest on a tie: "乐山市峨眉山市" -> 乐山市,
    "峨眉山市" -> 乐山市 (not 眉山市), "四川省成都市武侯区" -> 成都市.
    """
    text = re.sub(r"\s+", "", unicodedata.normalize("NFKC", raw or ""))
    if not text or _OTHER_PLACE_RE.match(text):
        return None
    best: tuple[int, int, str] | None = None
    for alias, full in _aliases():
        pos = text.find(alias)
        if pos >= 0 and (best is None or (pos, -len(alias)) < best[:2]):
            best = (pos, -len(alias), full)
    return best[2] if best else None
