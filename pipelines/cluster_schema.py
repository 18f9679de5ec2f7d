"""Column names added by the cluster stage beyond those in `pipelines.schema`."""

CLUSTER_GROUP = "cluster_group"  # "K" + smallest member demand_id's hex: clusters of a chain grouped one level up
