"""Resuming an interrupted run: the key under which a run's finished stages are kept (no Prefect here).

A run of `consolidate-call` with a resume folder keeps the results of its pure stages (normalize, segment, library
context, duplicate pairs, mapping, clustering; the vectors are in the vector cache already) under one run key;
re-run with the same inputs, it loads them instead of recomputing. Every stage's output is a function of what the
key covers, so a cached result is the result:

- the inputs: call id, each file's name and sha256 (the frame also holds the library's demands: see below);
- the effective config (its hash, which covers every stage's settings, the encoders and the taxonomy path);
- the taxonomy's version and content hash;
- the mapper: the zero-shot mapper's version and second encoder; the learned model is fitted from the library's
  human decisions, so it is covered by the library revision;
- the library revision: row counts of the demand, quarantine, event and decision tables, the last event id, and the
  full content of the decision tables (human mappings, corrections, entry decisions, expert scores). Every write to
  the library appends an event, so a new human decision, correction, erasure or saved run changes it; the runs table
  is left out (closing an interrupted run must not invalidate its stages);
- the code: ningliang's version and a hash of the package's source files.

After a successful run its results are deleted: the run wrote to the library, so the key can never recur.
"""

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa

from . import __version__
from . import migrations as m

# the sentence vectors are not kept here: the vector cache (embed.CachedEncoder) already keeps every vector, and
# pickling (n, 512) arrays three times through Prefect's result store cost ~5.7x their size in memory (+1.1 GB at 30k)
CACHED_STAGES = ("文本规范化", "中文分词", "关联需求库", "查重", "产业映射", "相似聚类")
_COUNTED = (m.DEMANDS, m.QUARANTINE, m.EVENTS, m.HUMAN_MAPPING, m.CORRECTIONS, m.ENTRY_DECISIONS, m.EXPERT_SCORES)
_HASHED = (m.HUMAN_MAPPING, m.CORRECTIONS, m.ENTRY_DECISIONS, m.EXPERT_SCORES)


def library_revision(url: str) -> str:
    """A fingerprint of everything in the library at `url` that a run's stages read (see module doc), 16 hex
    digits; the library must exist (the flow has opened it)."""
    digest = hashlib.sha256()
    engine = m.create_engine(url)
    with engine.connect() as conn:
        for table in _COUNTED:
            digest.update(
                f"{table.name}:{conn.execute(sa.select(sa.func.count()).select_from(table)).scalar()};".encode()
            )
        last = conn.execute(sa.select(sa.func.max(m.EVENTS.c[m.EVENT_ID]))).scalar()
        digest.update(f"last_event:{last};".encode())
        for table in _HASHED:
            rows = sorted(
                json.dumps(list(row), default=str, ensure_ascii=False) for row in conn.execute(sa.select(table))
            )
            digest.update(f"{table.name}:".encode() + "\n".join(rows).encode())
    engine.dispose()
    return digest.hexdigest()[:16]


def code_revision(package: Path | None = None) -> str:
    """ningliang's version and a hash of its source files (any code change starts the stages afresh)."""
    package = package or Path(__file__).resolve().parent
    digest = hashlib.sha256(__version__.encode())
    for path in sorted(package.rglob("*.py")):
        digest.update(path.relative_to(package).as_posix().encode() + path.read_bytes())
    return digest.hexdigest()[:16]


def run_key(
    call_id: str,
    files: pd.DataFrame,
    config_hash: str,
    taxonomy: tuple[str, str],
    mapper: str,
    library: str,
    code: str,
) -> str:
    """The key of a run's cached stages: 24 hex digits over everything listed in the module doc. `files` is the
    ingest's files frame (file_name, sha256); `taxonomy` is (version, content sha256)."""
    parts: list[Any] = [call_id, _files(files), config_hash, list(taxonomy), mapper, library, code]
    return hashlib.sha256(json.dumps(parts, ensure_ascii=False).encode()).hexdigest()[:24]


def stage_key(key: str, stage: str) -> str:
    """A stage's cache key within a run."""
    return f"{key}-{hashlib.sha256(stage.encode()).hexdigest()[:8]}"


def _files(files: pd.DataFrame) -> Iterable[list[str]]:
    return [[str(n), str(h)] for n, h in zip(files["file_name"], files["sha256"], strict=True)]
