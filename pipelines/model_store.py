"""Library methods for the mapper models learned from the library's own human decisions (migration 4)."""

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from . import migrations as m
from .learned_mapping import CorrectionModel


class ModelsMixin:
    """Store and fetch learned mapper models by version (the Library provides `_ready`)."""

    def _ready(self) -> Engine:  # pragma: no cover - pipelines.store.Library overrides it
        raise NotImplementedError

    def save_mapper_model(self, model: CorrectionModel, run_id: str | None = None) -> bool:
        """Store `model` unless its version is already there; a new model is a "mapper_model" event."""
        t = m.MAPPER_MODELS
        stamp = m.now_utc()
        with self._ready().begin() as conn:
            if conn.execute(sa.select(t.c.model_version).where(t.c.model_version == model.version)).first():
                return False
            conn.execute(
                t.insert().values(
                    model_version=model.version, encoder=model.encoder, n_decisions=model.n_decisions,
                    payload=model.to_bytes(), created_at=stamp,
                )
            )  # fmt: skip
            conn.execute(
                m.EVENTS.insert().values(
                    at=stamp, run_id=run_id, call_id=None, demand_id=None, kind="mapper_model", actor="pipeline",
                    field="model_version", old_value=None, new_value=model.version,
                    evidence=f"由 {model.n_decisions} 条人工判定训练的映射模型",
                )
            )  # fmt: skip
        return True

    def mapper_model(self, version: str) -> CorrectionModel | None:
        t = m.MAPPER_MODELS
        with self._ready().connect() as conn:
            payload = conn.execute(sa.select(t.c.payload).where(t.c.model_version == version)).scalar()
        return None if payload is None else CorrectionModel.from_bytes(payload)

    def mapper_models(self) -> list[tuple[str, int, str]]:
        """(version, decisions learned from, created_at) of every stored model, oldest first."""
        t = m.MAPPER_MODELS
        with self._ready().connect() as conn:
            columns = sa.select(t.c.model_version, t.c.n_decisions, t.c.created_at)
            rows = conn.execute(columns.order_by(*m.code_point_order(conn, t.c.created_at, t.c.model_version)))
            return [(str(v), int(n), str(at)) for v, n, at in rows]
