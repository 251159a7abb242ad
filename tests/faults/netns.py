"""A node behind a real network link: a network namespace joined to the host by a veth pair,
the node running inside it, and iptables in the namespace to drop or lose packets.

Needs root, ``ip`` (iproute2) and ``iptables``; :func:`unavailable` says why not where they
are missing, and the tests of this tier skip with that reason.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess

from kasagi.node import NodeOptions
from kasagi.testing.node import NodeProcess

__all__ = ["NetNamespace", "NetnsNode", "unavailable"]


def _run(*cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, check=check, capture_output=True, text=True, timeout=30)


def unavailable() -> str | None:
    """Why the namespace tier can't run here (None: it can)."""
    if os.geteuid() != 0:
        return "needs root (network namespaces and iptables)"
    for tool in ("ip", "iptables"):
        if shutil.which(tool) is None:
            return f"needs {tool} (apt-get install {'iproute2' if tool == 'ip' else 'iptables'})"
    probe = f"kasagi_probe_{os.getpid()}"
    made = _run("ip", "netns", "add", probe, check=False)
    if made.returncode != 0:
        return f"cannot create a network namespace: {made.stderr.strip()}"
    try:
        rule = _run(
            "ip",
            "netns",
            "exec",
            probe,
            "iptables",
            "-A",
            "INPUT",
            "-m",
            "statistic",
            "--mode",
            "random",
            "--probability",
            "0.5",
            "-j",
            "DROP",
            check=False,
        )
        if rule.returncode != 0:
            return f"iptables does not work in a namespace here: {rule.stderr.strip()}"
    finally:
        _run("ip", "netns", "del", probe, check=False)
    return None


class NetNamespace:
    """A namespace with one veth link to the host: host side ``.host_ip``, namespace side ``.ip``."""

    def __init__(self) -> None:
        tag = f"{os.getpid() % 100000}{random.randrange(100):02d}"
        self.name = f"kasagi_{tag}"
        self.host_if = f"ksg{tag}h"
        self.ns_if = f"ksg{tag}n"
        self.subnet = random.randrange(0, 32) * 8
        self.net = f"10.{random.randrange(200, 250)}.{random.randrange(0, 250)}"
        self.host_ip = f"{self.net}.{self.subnet + 1}"
        self.ip = f"{self.net}.{self.subnet + 2}"
        self._aliases = 0
        self._rules: list[list[str]] = []

    def create(self) -> NetNamespace:
        _run("ip", "netns", "add", self.name)
        try:
            _run("ip", "link", "add", self.host_if, "type", "veth", "peer", "name", self.ns_if)
            _run("ip", "link", "set", self.ns_if, "netns", self.name)
            _run("ip", "addr", "add", f"{self.host_ip}/29", "dev", self.host_if)
            _run("ip", "link", "set", self.host_if, "up")
            self.exec("ip", "addr", "add", f"{self.ip}/29", "dev", self.ns_if)
            self.exec("ip", "link", "set", self.ns_if, "up")
            self.exec("ip", "link", "set", "lo", "up")
        except BaseException:
            self.destroy()
            raise
        return self

    def host_alias(self) -> str:
        """Another address on the host side of the link (a second "host" to partition alone)."""
        self._aliases += 1
        if self._aliases > 4:
            raise RuntimeError("no more addresses in the link's /29")
        ip = f"{self.net}.{self.subnet + 2 + self._aliases}"
        _run("ip", "addr", "add", f"{ip}/29", "dev", self.host_if)
        return ip

    def exec(self, *cmd: str) -> subprocess.CompletedProcess[str]:
        return _run("ip", "netns", "exec", self.name, *cmd)

    def _add_rule(self, rule: list[str]) -> None:
        self.exec("iptables", "-I", *rule)
        self._rules.append(rule)

    def drop_all(self) -> None:
        """Drop every packet on the link, both ways (a silent partition)."""
        self._add_rule(["INPUT", "-i", self.ns_if, "-j", "DROP"])
        self._add_rule(["OUTPUT", "-o", self.ns_if, "-j", "DROP"])

    def drop_host(self, ip: str) -> None:
        """Drop every packet between the namespace and the host address ``ip``, both ways."""
        self._add_rule(["INPUT", "-i", self.ns_if, "-s", ip, "-j", "DROP"])
        self._add_rule(["OUTPUT", "-o", self.ns_if, "-d", ip, "-j", "DROP"])

    def lose(self, probability: float) -> None:
        """Drop each packet on the link with ``probability``, both ways."""
        p = f"{probability:.4f}"
        self._add_rule(
            ["INPUT", "-i", self.ns_if, "-m", "statistic", "--mode", "random", "--probability", p, "-j", "DROP"]
        )
        self._add_rule(
            ["OUTPUT", "-o", self.ns_if, "-m", "statistic", "--mode", "random", "--probability", p, "-j", "DROP"]
        )

    def clear(self) -> None:
        """Remove every rule this object added (the link heals)."""
        while self._rules:
            rule = self._rules.pop()
            _run("ip", "netns", "exec", self.name, "iptables", "-D", *rule, check=False)

    def destroy(self) -> None:
        _run("ip", "netns", "del", self.name, check=False)
        _run("ip", "link", "del", self.host_if, check=False)


class NetnsNode(NodeProcess):
    """A node whose processes run inside ``netns``; clients reach it at ``netns.ip``."""

    def __init__(self, options: NodeOptions, netns: NetNamespace) -> None:
        super().__init__(options)
        self.netns = netns
        self.probe_host = netns.ip

    @property
    def url(self) -> str:
        return f"ws://{self.netns.ip}:{self.options.port}/ws"

    def command(self) -> list[str]:
        return ["ip", "netns", "exec", self.netns.name, *super().command()]
