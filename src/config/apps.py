from django.apps import AppConfig


class CompositionRootConfig(AppConfig):
    """Wires the domain's ports once the apps are ready, for every entry point (web, admin,
    management commands, Celery workers), not only for requests."""

    name = "config"
    label = "composition_root"

    def ready(self) -> None:
        from adapters.monitoring import db
        from config.bootstrap import wire_entry_points

        wire_entry_points()
        db.install()  # query counting and slow-query logging on every connection
        from adapters.celery import metrics  # noqa: F401 - connects the task-metric signal handlers
        from config import request_signals

        request_signals.prune()
