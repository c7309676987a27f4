"""Automatic failover with Patroni and etcd on one machine (`python -m deploy.ha`, `make ha`)."""

from deploy.ha.core import DEFAULT_STATE_DIR, HaCluster, HaError, prerequisites

__all__ = ["DEFAULT_STATE_DIR", "HaCluster", "HaError", "prerequisites"]
