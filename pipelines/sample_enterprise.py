"""Submitting enterprises of the synthetic call (`pipelines.sample`): names, 统一社会信用代码, contacts.

An enterprise keeps one name, one credit code (with valid GB 32100 / GB 11714 check characters), one contact
and one set of boilerplate facts (founding year, patents, ...) across all its demands.
"""

import random
from dataclasses import dataclass

from pipelines import sample_vocab as v

_USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
_CAPITALS = (500, 1000, 2000, 3000, 5000, 8000, 10000, 20000)


def credit_check_char(body: str) -> str:
    """GB 32100 check character of the first 17 characters of a 统一社会信用代码."""
    total = sum(_USCC_CHARS.index(c) * w for c, w in zip(body, _USCC_WEIGHTS, strict=True))
    return _USCC_CHARS[(31 - total % 31) % 31]


def org_code(body: str) -> str:
    """An 8-character organisation code body plus its GB 11714 check character."""
    c = 11 - sum(int(ch, 36) * w for ch, w in zip(body, _ORG_WEIGHTS, strict=True)) % 11
    return body + ("X" if c == 10 else "0" if c == 11 else str(c))


@dataclass(frozen=True)
class Enterprise:
    name: str
    code: str
    region: v.Region
    contact: str
    phone: str
    facts: dict[str, str]  # values for the 现有工作基础 boilerplate (year, qual, pi, pu, rd, ...; hospital "1"/"")


class Registry:
    """Enterprises drawn so far, pooled by line of business so that an enterprise submits related demands."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.pools: dict[tuple[str, ...], list[Enterprise]] = {}
        self.taken: set[str] = set()  # names and codes already used

    def pick(self, group: v.Group, avoid: Enterprise | None = None) -> Enterprise:
        """Often one that already submitted in this line of business (never `avoid`), else a new one."""
        pool = self.pools.setdefault(group.firms, [])
        known = [e for e in pool[-50:] if e is not avoid]
        if known and self.rng.random() < 0.3:
            return self.rng.choice(known)
        ent = self._new(group)
        pool.append(ent)
        return ent

    def _new(self, group: v.Group) -> Enterprise:
        rng = self.rng
        if group.regions and rng.random() < 0.5:
            wanted = rng.choice(group.regions)
            region = next(r for r in v.REGIONS if r.name == wanted)
        else:
            region = rng.choices(v.REGIONS, [r.weight for r in v.REGIONS])[0]
        hospital = group.firms == ("医院",)
        name = ""
        while not name or name in self.taken:
            place = rng.choice(("四川", region.places[0], rng.choice(region.places)))
            brand = rng.choice(v.BRAND_FIRST) + "".join(rng.sample(v.BRAND_SECOND, 1 + (len(self.taken) > 4000)))
            name = place + brand + ("医院" if hospital else rng.choice(group.firms) + rng.choice(v.LEGAL_FORMS))
        self.taken.add(name)
        year = rng.randint(1995, 2023)
        code = self._credit_code(region, year, hospital)
        return Enterprise(name, code, region, self._person(), self._phone(region), self._facts(year, hospital))

    def _credit_code(self, region: v.Region, year: int, hospital: bool) -> str:
        rng = self.rng
        while True:
            if year >= 2016 and not hospital:  # codes issued since 2016 carry a MA-prefixed organisation code
                org = org_code("MA6" + "".join(rng.choices(_USCC_CHARS[:30], k=5)))
            else:
                org = org_code("".join(rng.choices("0123456789", k=8)))
            body = ("12" if hospital else "91") + region.admin + rng.choice(region.districts) + org
            code = body + credit_check_char(body)
            if code not in self.taken:
                self.taken.add(code)
                return code

    def _person(self) -> str:
        surname, r = self.rng.choice(v.SURNAMES), self.rng.random()
        if r < 0.05:
            return surname + self.rng.choice(("工", "经理", "总"))
        return surname + "".join(self.rng.sample(v.GIVEN_CHARS, 1 if r < 0.35 else 2))

    def _phone(self, region: v.Region) -> str:
        rng = self.rng
        if rng.random() < 0.72:
            return "1" + rng.choice("3456789") + "".join(rng.choices("0123456789", k=9))
        if region.phone_area == "028":
            return "028-8" + "".join(rng.choices("0123456789", k=7))
        return f"{region.phone_area}-{rng.choice('2345678')}" + "".join(rng.choices("0123456789", k=6))

    def _facts(self, year: int, hospital: bool) -> dict[str, str]:
        rng, rd = self.rng, self.rng.randint(6, 180)
        pi, pu = rng.randint(0, 40), rng.randint(3, 90)
        numbers = {
            "year": year, "pi": pi, "pu": pu, "pt": pi + pu, "rd": rd, "phd": rng.randint(1, max(1, rd // 8)),
            "cap": rng.choice(_CAPITALS), "emp": rd * rng.randint(3, 9), "ratio": rng.randint(3, 15),
            "beds": rng.randint(3, 30) * 100, "visits": rng.randint(20, 300),
        }  # fmt: skip
        facts = {k: str(x) for k, x in numbers.items()}
        quals = v.HOSPITAL_QUALIFICATIONS if hospital else v.QUALIFICATIONS
        facts.update(qual=rng.choice(quals), plat=rng.choice(v.PLATFORMS), univ=rng.choice(v.PARTNERS))
        facts["hospital"] = "1" if hospital else ""
        return facts
