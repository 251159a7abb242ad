"""The wheel carries the node: the sessions Crossbar runs (the checkout's top-level
``components/`` and ``router/``) are copied into ``kasagi/_node/components/`` and
``kasagi/_node/router/``, so an installed package adds no top-level package of those generic
names; the Crossbar config template (``.crossbar/config.json``) and the web pages, SDK and
vendored scripts (``web/``) are copied into ``kasagi/_node/data/``, so an installed
``kasagi up`` runs from any directory. A checkout runs from its own copies
(``kasagi.node.NodeFiles``; the node's config names ``kasagi._node.*`` only when it runs from
the installed package)."""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
#: ``web/vendor`` comes from ``make js`` (npm ci from package-lock.json); a wheel without it
#: would serve pages whose scripts are missing.
VENDORED = ("web/vendor/autobahn.min.js", "web/vendor/sha256.min.js")
#: The checkout's top-level packages of the node's sessions (their imports of each other are
#: relative, so the same files work as ``kasagi._node.<name>``).
NODE_PACKAGES = ("components", "router")


class BuildWithNodeFiles(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install runs from the checkout's files
        missing = [name for name in VENDORED if not (ROOT / name).is_file()]
        if missing:
            raise SystemExit(f"missing {', '.join(missing)}: run `make js` before building the package")
        node = Path(self.build_lib) / "kasagi" / "_node"
        for name in NODE_PACKAGES:
            target = node / name
            if target.exists():
                shutil.rmtree(target)
            target.mkdir(parents=True)
            for module in sorted((ROOT / name).glob("*.py")):
                shutil.copyfile(module, target / module.name)
        data = node / "data"
        if data.exists():
            shutil.rmtree(data)
        data.mkdir(parents=True)
        shutil.copyfile(ROOT / ".crossbar" / "config.json", data / "config.json")
        shutil.copytree(ROOT / "web", data / "web", ignore=shutil.ignore_patterns("node_modules", "*.tgz"))


setup(cmdclass={"build_py": BuildWithNodeFiles})
