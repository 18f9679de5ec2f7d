"""Test doubles."""

import hashlib
from collections.abc import Sequence

import numpy as np

from pipelines.progress import Progress


class HashEncoder:
    """A fake encoder: character-bigram hashing into 64 dims, so similar texts get similar vectors."""

    name = "fake-hash@1"

    def __init__(self) -> None:
        self.calls = 0

    def encode(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        self.calls += 1
        if progress is not None:
            progress.advance(len(texts))
        out = np.zeros((len(texts), 64), dtype=np.float32)
        for i, text in enumerate(texts):
            for j in range(len(text) - 1):
                out[i, int(hashlib.md5(text[j : j + 2].encode()).hexdigest(), 16) % 64] += 1
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-12)
