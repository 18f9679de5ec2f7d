"""Column names added by the cluster stage (kept for imports; the names now live in `pipelines.schema`)."""

from .schema import CLUSTER_GROUP

__all__ = ["CLUSTER_GROUP"]
