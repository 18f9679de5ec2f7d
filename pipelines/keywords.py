"""Taxonomy keywords found in a demand's title and body: the lexical evidence of the mapper.

`keyword_hits` states the rule for one keyword list. `KeywordIndex` gives the same hits for many lists at once: one
Aho-Corasick pass over each text (pyahocorasick) finds every keyword it contains, where testing each keyword of each
label as a substring cost the mapper most of its time (about 40 labels of keywords per demand).
"""

from collections.abc import Sequence

import ahocorasick

TITLE, BODY = "标题", "正文"


def keyword_hits(keywords: Sequence[str], title: str, body: str) -> list[tuple[str, str]]:
    """(keyword, where) for each keyword found in the lowercased title or body, where is 标题 or 正文 (the title
    wins); one-character keywords are ignored."""
    hits = []
    for kw in keywords:
        k = kw.lower()
        if len(k) < 2:
            continue
        if k in title:
            hits.append((kw, TITLE))
        elif k in body:
            hits.append((kw, BODY))
    return hits


class KeywordIndex:
    """`keyword_hits` of every keyword list in `lists` for one title and body, in each list's order."""

    def __init__(self, lists: Sequence[Sequence[str]]) -> None:
        self.size = len(lists)
        self._owners: dict[str, list[tuple[int, int, str]]] = {}  # lowercased keyword -> (list, position, keyword)
        for j, keywords in enumerate(lists):
            for position, kw in enumerate(keywords):
                if len(kw.lower()) >= 2:
                    self._owners.setdefault(kw.lower(), []).append((j, position, kw))
        self._automaton = ahocorasick.Automaton()
        for k in self._owners:
            self._automaton.add_word(k, k)
        self._automaton.make_automaton()

    def _found(self, text: str) -> set[str]:
        return {k for _, k in self._automaton.iter(text)} if self._owners and text else set()

    def hits(self, title: str, body: str) -> list[list[tuple[str, str]]]:
        """Per list, (keyword, where) for each of its keywords in the lowercased title or body."""
        in_title = self._found(title)
        found: dict[int, list[tuple[int, str, str]]] = {}
        for k in in_title | self._found(body):
            where = TITLE if k in in_title else BODY
            for j, position, kw in self._owners[k]:
                found.setdefault(j, []).append((position, kw, where))
        out: list[list[tuple[str, str]]] = [[] for _ in range(self.size)]
        for j, hits in found.items():
            out[j] = [(kw, where) for _, kw, where in sorted(hits)]
        return out
