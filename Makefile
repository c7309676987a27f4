# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3.11
VENV := .venv
# pytest caches its rewritten test modules as bytecode; with this set it redoes them every run.
unexport PYTHONDONTWRITEBYTECODE
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint unit stop migrate worker beat clean-data help bench stress stress-cluster cluster cluster-stop cluster-status cluster-packages test-cluster capacity backup restore restore-stop failover-drill

help:
	@echo "make run    - serve the API on http://127.0.0.1:8000 with a Celery worker and beat (embedded PostgreSQL unless DATABASE_URL is set)"
	@echo "make test   - ruff, import-linter, mypy and the whole pytest suite"
	@echo "make unit   - the domain's unit tests only (no database)"
	@echo "make stop   - stop the embedded PostgreSQL and the test Redis started by the tests"
	@echo "make stress - concurrency, faults, hostile input and attacks on a stack of its own (RELIABILITY.md)"
	@echo "make bench LEVEL=n - load level n (if needed) and benchmark it with wrk and pgbench (BENCHMARKS.md)"
	@echo "make cluster        - the production topology on this machine, one network namespace per node: 3 etcd, 2"
	@echo "                       PostgreSQL under Patroni (automatic failover, synchronous standby, WAL to pgBackRest),"
	@echo "                       HAProxy for the database, pgbouncer, 3 Redis, 3 API nodes behind HAProxy, a worker (root;"
	@echo "                       installs haproxy, pgbouncer, pgbackrest, patroni and etcd-server with apt-get when missing;"
	@echo "                       docs/deployment.md)"
	@echo "make cluster-status - each node of the cluster: address, pid, running and ready or not"
	@echo "make cluster-stop   - stop the cluster and remove its namespaces, interfaces and data"
	@echo "make test-cluster   - the cluster's own tests (root; installs the packages make cluster needs)"
	@echo "make failover-drill - on the running cluster: the primary SIGKILLed under payments, its return (pg_rewind),"
	@echo "                       an etcd member lost, a network partition (RELIABILITY.md); python -m deploy.ha sync-cost"
	@echo "make stress-cluster - faults under load on the cluster (make cluster first if it is not running; it is"
	@echo "                       left running): a node killed, a rolling restart, pgbouncer, a cache shard, reloads"
	@echo "make backup [TYPE=incr|full] - a pgBackRest backup of the cluster's primary (incremental; full when there is none)"
	@echo "make restore TARGET_TIME='YYYY-MM-DD HH:MM:SS+00' - the cluster's backups restored to that moment into a scratch"
	@echo "                       cluster on a free port of 127.0.0.1, started (docs/operations.md); make restore-stop removes it"
	@echo "make capacity QPS=n LEVEL=n - cores, memory and machines for that load, from the measured CPU per request (docs/capacity.md)"

$(PY):
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "Python 3.11 is required ($(PYTHON) not found)"; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(PY) pyproject.toml
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

run: $(STAMP)
	$(PY) -m config.devrun

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy

test: lint
	$(PY) -m pytest

unit: $(STAMP)
	$(PY) -m pytest tests/unit -q

migrate: $(STAMP)
	$(PY) manage.py migrate

worker: $(STAMP)
	$(VENV)/bin/celery -A config.celery_app worker --loglevel INFO --concurrency 2

beat: $(STAMP)
	$(VENV)/bin/celery -A config.celery_app beat --loglevel INFO

stop:
	-$(PY) -m config.embedded stop
	-@[ -f .data/redis-test.pid ] && kill $$(cat .data/redis-test.pid) || true

# The benchmark (not part of CI): DATABASE on BENCH_PGHOST (127.0.0.1), wrk and pgbench; BENCH_ARGS for
# more options (bench/run.py --help), e.g. make bench LEVEL=2 BENCH_ARGS="--reseed --duration 20".
LEVEL ?= 1
bench: $(STAMP)
	$(PY) bench/run.py --level $(LEVEL) $(BENCH_ARGS)

# The capacity plan from the benchmark's results (docs/capacity.md); CAPACITY_ARGS="--headroom 0.5 --node-cores 32".
QPS ?= 10000
capacity: $(STAMP)
	$(PY) bench/capacity.py --qps $(QPS) --level $(LEVEL) $(CAPACITY_ARGS)

# The reliability suite (not part of CI): builds its own primary + replica, Redis, app and worker on
# free ports, attacks them (stress/scenarios/) and writes RELIABILITY.md; STRESS_ARGS="--only faults".
stress: $(STAMP)
	$(PY) -m stress $(STRESS_ARGS)

# The production topology on this machine (deploy/cluster/, docs/deployment.md), each node in a network
# namespace of its own; needs root. Returns once it is healthy, the processes left running;
# FC_CLUSTER_DIR picks another state dir than .data/cluster (names and addresses follow it).
# Debian packages, `package` or `package:executable` when the program is named otherwise. Installing
# them never starts their services (etcd would listen on 2379/2380): a policy-rc.d refusing starts is
# put in place for the install when the machine has none, and systemd's units are disabled after it.
CLUSTER_PACKAGES := haproxy pgbouncer pgbackrest patroni etcd-server:etcd
cluster-packages:
	@missing=""; for entry in $(CLUSTER_PACKAGES); do package=$${entry%%:*}; tool=$${entry##*:}; \
	  command -v $$tool >/dev/null 2>&1 || [ -x /usr/sbin/$$tool ] || [ -x /usr/bin/$$tool ] || missing="$$missing $$package"; done; \
	if [ -n "$$missing" ]; then \
	  echo "make cluster: installing$$missing with apt-get (Debian packages; needs root)"; \
	  policy=""; [ -e /usr/sbin/policy-rc.d ] || { printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d; \
	    chmod 755 /usr/sbin/policy-rc.d; policy=1; }; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq$$missing >/dev/null; status=$$?; \
	  [ -z "$$policy" ] || rm -f /usr/sbin/policy-rc.d; \
	  if [ -d /run/systemd/system ]; then systemctl disable --now etcd patroni >/dev/null 2>&1 || true; fi; \
	  [ "$$status" -eq 0 ] || { echo "make cluster: apt-get install$$missing failed"; exit 1; }; \
	fi

cluster: $(STAMP) cluster-packages
	$(PY) -m deploy.cluster up

# The cluster's own tests (tests/cluster: the topology brought up in a state dir of its own, checked
# through the balancer, torn down). Not in `make test`: they need root and Debian's packages.
test-cluster: $(STAMP) cluster-packages
	$(PY) -m pytest tests/cluster

cluster-status:
	$(PY) -m deploy.cluster status

cluster-stop:
	$(PY) -m deploy.cluster down

# The failover drills on the running cluster (deploy/ha/, docs/operations.md "Automatic failover"),
# starting it first when it is not running; their figures go into RELIABILITY.md's section.
failover-drill: $(STAMP)
	@$(PY) -m deploy.cluster status >/dev/null 2>&1 || $(MAKE) --no-print-directory cluster
	$(PY) -m deploy.ha failover-drill --report

# Backups and point-in-time recovery of the cluster's primary with pgBackRest (deploy/backup/,
# docs/operations.md); the repository is .data/cluster-backup (beside FC_CLUSTER_DIR's state dir).
TYPE ?= incr
backup: $(STAMP)
	$(PY) -m deploy.backup backup --type $(TYPE)

restore: $(STAMP)
	$(PY) -m deploy.backup restore --target-time "$(TARGET_TIME)"

restore-stop: $(STAMP)
	$(PY) -m deploy.backup restore-stop

# Fault scenarios on the cluster through its balancer (stress/cluster.py), starting it first when it
# is not running (`make cluster`); the cluster is left running (make cluster-stop). Writes its own
# section of RELIABILITY.md; STRESS_CLUSTER_ARGS="--only kill reload".
stress-cluster: $(STAMP)
	@$(PY) -m deploy.cluster status >/dev/null 2>&1 || $(MAKE) --no-print-directory cluster
	@$(PY) -m stress.cluster $(STRESS_CLUSTER_ARGS); status=$$?; \
	echo "make stress-cluster: the cluster is left running (make cluster-stop removes it)"; exit $$status
