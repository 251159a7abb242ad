"""Run at start-up by every Python process of a Kasagi node (this directory is first on
their ``PYTHONPATH``, see :func:`kasagi.node.node_environment`): defer the packages Crossbar
imports and a node never uses (:mod:`kasagi.lazy_imports`), then run the ``sitecustomize``
this one shadows, if there is one."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import sys


def _defer() -> None:
    from kasagi.lazy_imports import install

    install()


def _chain() -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    rest = [p for p in sys.path if os.path.abspath(p or os.curdir) != here]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", rest)
    if spec is not None and spec.loader is not None:
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)


_defer()
_chain()
