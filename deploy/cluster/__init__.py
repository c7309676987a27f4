"""`python -m deploy.cluster up|down|status`: the production topology on one machine (core.py)."""

from deploy.cluster.core import APPS, ETCDS, PGS, ROLES, Cluster, ClusterError, NodeFailed, prerequisites

__all__ = ["APPS", "ETCDS", "PGS", "ROLES", "Cluster", "ClusterError", "NodeFailed", "prerequisites"]
