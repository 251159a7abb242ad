"""Child processes in their own process group: Kasagi nodes, workers and private Redis
servers started by tests, benchmarks and the topology runner.

A subclass says what to run (:meth:`ProcessGroup.command`, :meth:`ProcessGroup.environment`)
and when it is ready (:meth:`ProcessGroup.wait_ready`); starting, signalling and stopping the
whole group (a Crossbar node is a controller plus workers) are shared here.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Self

__all__ = ["ProcessGroup"]


class ProcessGroup:
    """One child process and its process group."""

    proc: subprocess.Popen[bytes] | None = None
    #: Where the child's output goes (None: discarded).
    log_path: Path | None = None

    def command(self) -> list[str]:
        raise NotImplementedError

    def environment(self) -> Mapping[str, str] | None:
        """The child's environment (None: this process's)."""
        return None

    def wait_ready(self, timeout: float) -> None:
        """Return once the child serves; raise ``TimeoutError`` or ``RuntimeError`` if not."""

    def start(self, timeout: float = 60.0) -> Self:
        """Run :meth:`command` in a new process group and wait until it is ready; kill the
        group if it is not."""
        cmd = self.command()
        env = self.environment()
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            with self.log_path.open("ab") as log:
                # cmd is built by the subclass from its own options, never from client input.
                self.proc = subprocess.Popen(  # noqa: S603
                    cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
                )
        else:
            self.proc = subprocess.Popen(  # noqa: S603 -- as above
                cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, start_new_session=True
            )
        try:
            self.wait_ready(timeout)
        except BaseException:
            self.kill()
            raise
        return self

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig: int) -> None:
        """Send ``sig`` to the whole group (nothing if it has exited)."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                pass

    def kill(self) -> None:
        """kill -9 the whole group and reap the child."""
        self.signal(signal.SIGKILL)
        if self.proc is not None:
            self.signal(signal.SIGCONT)  # a stopped process must run to die
            self.proc.wait(timeout=10)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, then kill -9 whatever of the group is left after ``timeout``."""
        if self.proc is None:
            return
        self.signal(signal.SIGCONT)
        self.signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pass
        self.signal(signal.SIGKILL)  # stray workers of the group
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass

    def pids(self) -> list[int]:
        """Every live process of the group (a node's controller and workers)."""
        if self.proc is None:
            return []
        pgid = self.proc.pid
        out = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    if os.getpgid(int(entry.name)) == pgid:
                        out.append(int(entry.name))
                except (ProcessLookupError, PermissionError):
                    continue
        return out

    def rss(self) -> int:
        """Bytes resident in every live process of the group (``VmRSS``; a process that is gone is
        not counted)."""
        total = 0
        for pid in self.pids():
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
            except OSError:
                continue
        return total
