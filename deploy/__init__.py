"""Deployment tooling: the scripts docker-compose mounts, and `python -m deploy.cluster`."""
