"""The wheel carries the node's files: the Crossbar config template (``.crossbar/config.json``)
and the web pages, SDK and vendored scripts (``web/``) are copied into
``kasagi/_node/data/`` when the package is built, so an installed ``kasagi up`` runs from any
directory. A checkout runs from its own copies (``kasagi.node.NodeFiles``)."""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
#: ``web/vendor`` comes from ``make js`` (npm ci from package-lock.json); a wheel without it
#: would serve pages whose scripts are missing.
VENDORED = ("web/vendor/autobahn.min.js", "web/vendor/sha256.min.js")


class BuildWithNodeFiles(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install runs from the checkout's files
        missing = [name for name in VENDORED if not (ROOT / name).is_file()]
        if missing:
            raise SystemExit(f"missing {', '.join(missing)}: run `make js` before building the package")
        data = Path(self.build_lib) / "kasagi" / "_node" / "data"
        if data.exists():
            shutil.rmtree(data)
        data.mkdir(parents=True)
        shutil.copyfile(ROOT / ".crossbar" / "config.json", data / "config.json")
        shutil.copytree(ROOT / "web", data / "web", ignore=shutil.ignore_patterns("node_modules", "*.tgz"))


setup(cmdclass={"build_py": BuildWithNodeFiles})
