"""How the admin (an entry point below config in the layers) reaches the domain's ports without
importing config: config.bootstrap.wire_entry_points installs the provider at start-up."""

from __future__ import annotations

from collections.abc import Callable

from domain.application.ports import Ports

_provider: Callable[[], Ports] | None = None


def install_ports(provider: Callable[[], Ports]) -> None:
    global _provider
    _provider = provider


def ports() -> Ports:
    if _provider is None:
        raise RuntimeError("Domain ports are not wired: config.bootstrap must run first")
    return _provider()
