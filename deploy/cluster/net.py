"""The cluster's private network: a bridge in the root namespace and one network namespace per node,
joined to the bridge by a veth pair. Private addresses only, no NAT, no default route: nothing here
touches the machine's real interfaces or reaches the internet."""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import json
import os
import shutil
import subprocess
from pathlib import Path

IFNAME_MAX = 15  # the kernel's limit (IFNAMSIZ - 1) on interface names


class NetworkError(RuntimeError):
    """An `ip` command failed; the message carries the command and what it printed."""


def system_tool(name: str) -> str:
    """An absolute path to a system tool: `ip` and `setpriv` live in /usr/sbin or /usr/bin, which a
    non-login shell's PATH may lack."""
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin:/usr/bin:/bin")
    if found is None:
        raise NetworkError(f"{name} is not installed (Debian: apt-get install iproute2 util-linux)")
    return found


def ip(*args: str, check: bool = True, timeout: float = 15) -> str:
    command = [system_tool("ip"), *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)  # noqa: S603
    if check and done.returncode != 0:
        raise NetworkError(f"{' '.join(command)} failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout


def cluster_key(state_dir: Path) -> str:
    """The hash every name and address derives from: the state dir's path (inside the checkout by
    default), so two checkouts, or a checkout's cluster and its test's, never share one."""
    return hashlib.sha256(str(state_dir.resolve()).encode()).hexdigest()


def prefix_of(key: str) -> str:
    return "fc" + key[:4]


def _taken_networks(ignore_device: str) -> list[ipaddress.IPv4Network]:
    """Every IPv4 network the root namespace already has an address or a route in."""
    taken: list[ipaddress.IPv4Network] = []
    for entry in json.loads(ip("-j", "-4", "addr", "show") or "[]"):
        if entry.get("ifname") == ignore_device:
            continue
        for info in entry.get("addr_info", []):
            taken.append(ipaddress.IPv4Interface(f"{info['local']}/{info['prefixlen']}").network)
    for route in json.loads(ip("-j", "-4", "route", "show", "table", "all") or "[]"):
        destination = route.get("dst", "default")
        if destination == "default" or route.get("dev") == ignore_device:
            continue
        with contextlib.suppress(ValueError):
            taken.append(ipaddress.IPv4Network(destination, strict=False))
    return taken


def choose_subnet(key: str, ignore_device: str) -> ipaddress.IPv4Network:
    """A /24 in 10.100.0.0-10.199.255.0 picked by the hash; the next free one when the machine already
    uses it (another cluster's bridge, a VPN route)."""
    number = int(key[4:12], 16)
    taken = _taken_networks(ignore_device)
    for step in range(1024):
        second = 100 + (number + step // 256) % 100
        third = (number // 100 + step) % 256
        candidate = ipaddress.IPv4Network(f"10.{second}.{third}.0/24")
        if not any(candidate.overlaps(network) for network in taken):
            return candidate
    raise NetworkError("no free /24 in 10.100.0.0/16-10.199.0.0/16 for the cluster's bridge")


def namespaces() -> list[str]:
    return [line.split()[0] for line in ip("netns", "list").splitlines() if line.strip()]


def links() -> list[str]:
    return [entry["ifname"] for entry in json.loads(ip("-j", "link", "show") or "[]")]


def create_bridge(name: str, address: ipaddress.IPv4Interface) -> None:
    ip("link", "add", "name", name, "type", "bridge")
    ip("addr", "add", str(address), "dev", name)
    ip("link", "set", name, "up")


def add_namespace(namespace: str, veth: str, bridge: str, address: ipaddress.IPv4Interface) -> None:
    """A namespace with `eth0` (the veth's far end) on the bridge, and its loopback up."""
    if len(veth) > IFNAME_MAX:
        raise NetworkError(f"interface name {veth!r} is longer than {IFNAME_MAX} characters")
    ip("netns", "add", namespace)
    # The far end is created inside the namespace: an `eth0` never exists in the root namespace.
    ip("link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", namespace)
    ip("link", "set", veth, "master", bridge)
    ip("link", "set", veth, "up")
    ip("-n", namespace, "addr", "add", str(address), "dev", "eth0")
    ip("-n", namespace, "link", "set", "eth0", "up")
    ip("-n", namespace, "link", "set", "lo", "up")


def namespace_pids(namespace: str) -> list[int]:
    """Every process inside the namespace (children and grandchildren included)."""
    if not Path("/run/netns", namespace).exists():
        return []
    out = ip("netns", "pids", namespace, check=False)
    return [int(word) for word in out.split() if word.isdigit() and int(word) != os.getpid()]


def remove(prefix: str) -> list[str]:
    """Delete this cluster's namespaces and interfaces (the processes inside must be gone first);
    returns what it deleted. Deleting a namespace destroys its veth pair."""
    removed = []
    for namespace in namespaces():
        if namespace.startswith(prefix + "-"):
            ip("netns", "del", namespace, check=False)
            removed.append(f"namespace {namespace}")
    for link in links():
        if link.startswith(prefix + "-"):
            ip("link", "del", link, check=False)
            removed.append(f"interface {link}")
    return removed


def leftovers(prefix: str) -> list[str]:
    return [f"namespace {n}" for n in namespaces() if n.startswith(prefix + "-")] + [
        f"interface {link}" for link in links() if link.startswith(prefix + "-")
    ]
