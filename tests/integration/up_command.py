"""Running the real ``kasagi up`` command in tests: start it, read its output until the
ready line (with a deadline), stop it with SIGINT."""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path


class UpCommand:
    """``kasagi up ARGS`` as a child process in its own process group."""

    def __init__(self, exe: Sequence[str], args: Sequence[str], *, cwd: Path, env: Mapping[str, str]) -> None:
        self.proc = subprocess.Popen(
            [*exe, "up", *args],
            cwd=cwd,
            env=dict(env),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        self.lines: list[str] = []

    def read_until_ready(self, timeout: float = 120.0) -> list[str]:
        """The stdout lines up to and including the ready line; AssertionError if the command
        exits or the deadline passes first."""
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            while time.monotonic() < deadline:
                if not sel.select(timeout=max(0.0, deadline - time.monotonic())):
                    break
                raw = self.proc.stdout.readline()
                if not raw:
                    raise AssertionError(f"kasagi up exited before ready: {self.lines} {self.stderr()}")
                self.lines.append(raw.decode().rstrip("\n"))
                if "kasagi: ready" in self.lines[-1]:
                    return self.lines
        raise AssertionError(f"kasagi up was not ready in {timeout} s: {self.lines}")

    def stderr(self) -> str:
        if self.proc.poll() is None or self.proc.stderr is None:
            return ""
        return self.proc.stderr.read().decode()

    def interrupt(self, timeout: float = 60.0) -> tuple[int, str, str]:
        """Ctrl-C: (exit status, the rest of stdout, stderr)."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGINT)
        out, err = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, out.decode(), err.decode()

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)


def run_to_end(exe: Sequence[str], args: Sequence[str], *, cwd: Path, env: Mapping[str, str], timeout: float = 120.0):
    """``kasagi up ARGS`` run to its end: (exit status, stdout, stderr)."""
    proc = subprocess.run(
        [*exe, "up", *args], cwd=cwd, env=dict(env), capture_output=True, timeout=timeout, start_new_session=True
    )
    return proc.returncode, proc.stdout.decode(), proc.stderr.decode()
