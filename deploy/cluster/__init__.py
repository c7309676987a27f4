"""`python -m deploy.cluster up|down|status`: the production topology on one machine (core.py)."""

from deploy.cluster.core import APPS, ROLES, Cluster, ClusterError, NodeFailed, prerequisites

__all__ = ["APPS", "ROLES", "Cluster", "ClusterError", "NodeFailed", "prerequisites"]
