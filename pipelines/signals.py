"""What a demand states that scoring can count: deadlines in months, quantified technical indicators.

Pure functions over str. Text is NFKC-normalised first, so full-width digits, "％" and "～" read like their ASCII
forms.
"""

import datetime as dt
import re
import unicodedata

_CN_DIGITS = {"零": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_MONTHS_PER = {"年": 12.0, "月": 1.0, "周": 12 / 52, "星期": 12 / 52, "天": 12 / 365, "日": 12 / 365}

# "2027年6月", "2027-06-30", "2027.6", "2027/6", "2027年", "2027年底", "2027年上半年"
_ABSOLUTE = re.compile(
    r"(?P<year>20\d{2})\s*(?:年\s*(?:(?P<month>\d{1,2})\s*月|(?P<part>上半年|年中|下半年|年底|年末|底|末))?"
    r"|[-./]\s*(?P<month2>\d{1,2})(?!\d))"
)
# "1年内", "12个月", "半年", "一年半", "一个半月", "3-6个月" (a range counts by its upper end), "90天"
_RANGE = re.compile(r"(\d+(?:\.\d+)?|[一二两三四五六七八九十]+)\s*[-~至到]\s*(?=\d|[一二两三四五六七八九十])")
_RELATIVE = re.compile(
    r"(?P<n>\d+(?:\.\d+)?|[零一二两三四五六七八九十]+|半)\s*(?P<half>个半)?\s*个?\s*"
    r"(?P<unit>年|月|周|星期|天|日)(?P<half2>半)?"
)
_PART_MONTH = {"上半年": 6, "年中": 6, "下半年": 12, "年底": 12, "年末": 12, "底": 12, "末": 12}

# Quantified targets: a comparison with a number, or a number with a technical unit. Case-sensitive on purpose
# ("5S" is a management method, "5s" five seconds); a unit must not run on into more Latin letters.
_UNITS = (
    "%|‰|ppm|ppb|nm|μm|um|mm|cm|km|m2|m3|m|kg|mg|g|t|吨|千克|克|GW|MW|kW|kWh|Wh|W|kV|mV|V|mA|mAh|Ah|A|"
    "GHz|MHz|kHz|Hz|dBm|dB|GPa|MPa|kPa|Pa|kN|N|℃|°C|K|小时|h|分钟|min|秒|ms|μs|ns|s|rpm|r/min|Ω|lm|nit|"
    "dpi|fps|帧|bit|位|TB|GB|MB|L|升|mL|ml|毫米|微米|纳米|公里|米|次|倍|万次|级"
)
_INDICATOR = re.compile(
    r"(?:[≥≤><±]|不低于|不高于|不少于|不超过|不大于|不小于|大于|小于|高于|低于|优于|达到|超过|提升|提高|降低|缩短)"
    rf"\s*\d+(?:\.\d+)?\s*(?:{_UNITS})?(?![\d.A-Za-z年月日号])"
    rf"|\d+(?:\.\d+)?\s*(?:{_UNITS})(?![A-Za-z])"
)


def _cn_number(token: str) -> float | None:
    """1-99 written in Chinese numerals ("十二", "二十四", "两"), or digits; None when unreadable."""
    if re.fullmatch(r"\d+(?:\.\d+)?", token):
        return float(token)
    if token == "半":
        return 0.5
    if "十" in token:
        tens, _, ones = token.partition("十")
        value = (_CN_DIGITS.get(tens, 0) if tens else 1) * 10 + (_CN_DIGITS.get(ones, 0) if ones else 0)
        return float(value)
    digits = [_CN_DIGITS.get(ch) for ch in token]
    return float(digits[0]) if len(digits) == 1 and digits[0] is not None else None


def months_until(text: str, as_of: dt.date) -> float | None:
    """Months from `as_of` to the nearest deadline stated in `text`, 0 when it has passed; None when none is stated.

    A calendar date counts to its month ("2027年" to December, "2027年上半年" to June); a duration ("1年内",
    "12个月", "半年") counts from `as_of`.
    """
    plain = unicodedata.normalize("NFKC", text)
    found: list[float] = []
    for match in _ABSOLUTE.finditer(plain):
        month = match.group("month") or match.group("month2")
        part = match.group("part")
        number = int(month) if month else _PART_MONTH.get(part or "", 12)
        if not 1 <= number <= 12:
            continue
        found.append(float((int(match.group("year")) - as_of.year) * 12 + number - as_of.month))
    if not found:
        for match in _RELATIVE.finditer(_RANGE.sub("", plain)):
            count = _cn_number(match.group("n"))
            if count is None:
                continue
            count += 0.5 if match.group("half") or match.group("half2") else 0.0
            found.append(count * _MONTHS_PER[match.group("unit")])
    return max(0.0, min(found)) if found else None


def quantified_targets(text: str) -> list[str]:
    """The quantified technical indicators in `text` ("≤0.01mm", "30%", "1200V"), distinct, in order of appearance."""
    plain = unicodedata.normalize("NFKC", text)
    seen: dict[str, None] = {}
    for match in _INDICATOR.finditer(plain):
        seen.setdefault(re.sub(r"\s+", "", match.group(0)), None)
    return list(seen)
