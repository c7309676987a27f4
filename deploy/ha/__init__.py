"""The failover drills on a running `make cluster` (`python -m deploy.ha`, `make failover-drill`):
the primary SIGKILLed, the old primary rejoining, an etcd member lost, a network partition; and the
cost of synchronous replication. The topology itself (Patroni, etcd, dbproxy) is deploy/cluster's."""
