"""Running one of the Node scripts in ``tests/js/`` against a live node: the one :func:`run_js`
the end-to-end tests of the JS SDK use."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def run_js(script: Path, *args: str) -> dict[str, Any]:
    """Run ``script`` with ``args`` under Node (at most two minutes) and return the JSON object of
    the last line it prints; fail with its stderr when it exits non-zero."""
    node = shutil.which("node")
    assert node, "node is not installed"
    assert (ROOT / "node_modules" / "autobahn").is_dir(), "npm packages missing: run `make js`"
    proc = subprocess.run([node, str(script), *args], capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result
