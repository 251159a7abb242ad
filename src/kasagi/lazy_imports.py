"""Deferred imports: a package on a given list is imported when something first uses it,
not when something imports it.

Crossbar imports the Ethereum/XBR stack (``web3``, ``eth_*``, ``xbr``), ``numpy`` and
``docker`` at module level in every node process, for features a Kasagi node never uses
(XBR markets, the edge personality's management, Docker control): about 60 MB of each
process's memory. :func:`install` puts a finder first on ``sys.meta_path`` that imports the
listed packages (and their submodules) as *deferred* modules: the module object exists, with
its spec, ``__path__`` and ``__file__``, but its code runs only when an attribute the module
does not have yet is read (``numpy.zeros``, ``from web3 import Web3``). Code that uses a
package gets the real package, only later; code that merely imports it costs nothing.

Crossbar's package ``__init__`` also patches ``eth_abi``, ``eth_typing`` and ``web3`` for
their newer versions (aliases such as ``eth_abi.encode_abi``). Its ``hasattr`` probes are
answered without loading while that ``__init__`` runs (:data:`_PROBES`), and the same
aliases are added when the library really loads (:data:`_SHIMS`), so a library that is used
looks exactly as Crossbar left it.

Only source modules are deferred (extension modules are imported as usual). :func:`report`
says which deferred packages were loaded after all, and by what.

Installed in the node's processes by the ``sitecustomize`` in ``kasagi/_site`` (put on their
``PYTHONPATH`` by :func:`kasagi.node.node_environment`).
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import threading
import traceback
import types
from collections.abc import Callable, Iterable, Sequence
from typing import Any

__all__ = ["CROSSBAR_UNUSED", "DeferringFinder", "install", "installed", "report"]

#: Packages Crossbar imports at module level and a node on Kasagi's config never calls.
CROSSBAR_UNUSED = (
    "web3",
    "ens",
    "eth_abi",
    "eth_account",
    "eth_hash",
    "eth_keyfile",
    "eth_keys",
    "eth_rlp",
    "eth_typing",
    "eth_utils",
    "hexbytes",
    "py_ecc",
    "py_eth_sig_utils",
    "rlp",
    "xbr",
    "numpy",
    "docker",
    "cfxdb",
    "bjdata",
    # Crossbar's edge personality (router links' types, the XBR market maker, realm
    # databases): a standalone router imports it when a realm starts.
    "crossbar.edge",
    # Tor endpoints (Crossbar's endpoint factory), the web archive service's HTTP client,
    # and the code formatter of ``xbr._schema``'s code generation: none of them is in
    # Kasagi's config.
    "txtorcon",
    "treq",
    "yapf",
)

#: ``hasattr`` probes of Crossbar's package ``__init__``, answered without loading while it
#: runs: module -> {name: present?}. A present name is answered with a stand-in (Crossbar
#: then skips its alias; :data:`_SHIMS` adds it at load), an absent one with AttributeError
#: (Crossbar then sets its own definition, which the library's code keeps unless it defines
#: the name itself, as with any attribute set before a module runs).
_PROBES: dict[str, dict[str, bool]] = {
    "eth_abi": {"encode_abi": True, "encode_single": True, "abi": False},
    "eth_abi.abi": {"collapse_type": False, "process_type": False},
    "eth_typing": {"ChainID": True},
    "web3": {"Web3": True},
}


def _eth_abi_aliases(module: Any) -> None:
    for alias in ("encode_abi", "encode_single"):
        if not hasattr(module, alias) and hasattr(module, "encode"):
            setattr(module, alias, module.encode)


def _eth_typing_aliases(module: Any) -> None:
    if not hasattr(module, "ChainID") and hasattr(module, "ChainId"):
        module.ChainID = module.ChainId


def _web3_aliases(module: Any) -> None:
    w3 = module.Web3
    if not hasattr(w3, "toChecksumAddress") and hasattr(w3, "to_checksum_address"):
        w3.toChecksumAddress = lambda x: module.Web3.to_checksum_address(x)
    if not hasattr(w3, "isConnected") and hasattr(w3, "is_connected"):
        w3.isConnected = w3.is_connected


#: Names a deferred package takes from one of its own light submodules (its ``__init__``
#: imports them from there): read from the submodule, without running the package. Crossbar's
#: router imports ``xbr.FbsObject`` (for typed payloads it validates against a schema).
_FROM_SUBMODULE: dict[str, dict[str, str]] = {
    "xbr": {
        name: "xbr._schema"
        for name in (
            "FbsAttribute",
            "FbsEnum",
            "FbsEnumValue",
            "FbsField",
            "FbsObject",
            "FbsRepository",
            "FbsRPCCall",
            "FbsSchema",
            "FbsService",
            "FbsType",
        )
    },
}

#: Packages whose submodules can be imported (deferred in turn) while the package itself is
#: still deferred: Crossbar imports ``xbr._schema``, ``xbr._secmod``, ``eth_abi.abi``,
#: ``eth_abi.grammar``, ``cfxdb.cookiestore`` and ``yapf.yapflib.yapf_api`` directly.
#: Importing a submodule of any other deferred package loads the package first (its
#: ``__path__`` is only there once it runs), so its submodules are imported the plain way.
_SUBMODULES_DEFERRED = frozenset({"xbr", "eth_abi", "eth_keys", "cfxdb", "crossbar.edge", "yapf"})

#: Submodules that run without their package's ``__init__`` (they import nothing it sets up).
#: Any other deferred submodule that loads first loads its deferred packages, in order, as
#: a plain import would have. The controller loads ``xbr._secmod`` for the node's keys (an
#: Ed25519 and an Ethereum key, Crossbar's ``Node.load_keys``): without xbr's ``__init__``,
#: which imports ``web3`` and ``numpy`` for the XBR market stack, that is about 29 MB less.
_SELF_CONTAINED = frozenset({"xbr._schema", "xbr._secmod", "xbr._mnemonic", "eth_abi.grammar", "eth_abi.exceptions"})

#: Names imported from a deferred module (``from xbr import parse_certificate_chain``) by
#: Crossbar modules every node imports, for features Kasagi's config does not use (cryptosign
#: certificates, the node's Ethereum key, made by the controller only): each is answered with an :class:`_OnUse` that
#: loads the module when it is called or one of its attributes is read. Only names that are
#: called or have attributes read are listed (a stand-in is no good for ``isinstance``).
_ON_USE: dict[str, frozenset[str]] = {
    "xbr": frozenset({"EIP712AuthorityCertificate", "parse_certificate_chain"}),
    "xbr._secmod": frozenset({"SecurityModuleMemory"}),
    "eth_keys": frozenset({"KeyAPI"}),
    # an annotation in Crossbar's router-link manager, made for every realm
    "crossbar.edge.worker.router": frozenset({"ExtRouterRealm"}),
    # the edge personality's realm store (a database Kasagi's config does not configure);
    # ``Session`` is also an annotation Python evaluates when the method is defined.
    "cfxdb.realmstore": frozenset({"Publication", "RealmStore", "Session"}),
    "eth_keys.backends": frozenset({"NativeECCBackend"}),
    # ``xbr._schema`` formats the code it generates with it
    "yapf.yapflib.yapf_api": frozenset({"FormatCode"}),
}

#: Crossbar's compatibility aliases, added when the library loads (only where its probes
#: were answered by a stand-in, i.e. Crossbar skipped them).
_SHIMS: dict[str, Callable[[Any], None]] = {
    "eth_abi": _eth_abi_aliases,
    "eth_typing": _eth_typing_aliases,
    "web3": _web3_aliases,
}

#: The module whose ``__init__`` the probes are answered for.
_PROBING_PACKAGE = "crossbar"


class _StandIn:
    """Answers every attribute probe (``hasattr(web3.Web3, "toChecksumAddress")``)."""

    def __getattr__(self, name: str) -> Any:
        return self


class _OnUse:
    """Stands for ``module.name`` until it is used: then the module loads, and this forwards."""

    def __init__(self, module: types.ModuleType, name: str) -> None:
        self._module = module
        self._name = name

    def _target(self) -> Any:
        _load(self._module)
        return getattr(self._module, self._name)

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._target(), attr)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        # ``KeyAPI(NativeECCBackend)``: a stand-in passed to the real thing is the real thing.
        args = tuple(a._target() if isinstance(a, _OnUse) else a for a in args)
        kwargs = {k: v._target() if isinstance(v, _OnUse) else v for k, v in kwargs.items()}
        return self._target()(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<{self._module.__name__}.{self._name}, loaded on use>"


class _State:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.probing = False
        self.stood_in: set[str] = set()
        self.deferred: set[str] = set()
        self.loaded: dict[str, str] = {}
        #: Top-level packages deferred on import; a package leaves when it loads, so that
        #: its own imports while it runs (and after) are plain imports.
        self.packages: set[str] = set()
        #: The ``__path__`` of deferred packages outside :data:`_SUBMODULES_DEFERRED`.
        self.paths: dict[str, Any] = {}


_state = _State()


def _trigger() -> str:
    """The first frame outside this module and the import system: what made a load happen."""
    for frame in reversed(traceback.extract_stack()[:-3]):
        if frame.filename != __file__ and "importlib" not in frame.filename:
            return f"{frame.filename}:{frame.lineno}"
    return "?"


class _DeferredModule(types.ModuleType):
    """A module whose code has not run yet; reading a missing attribute runs it."""

    def __getattr__(self, name: str) -> Any:
        me = self.__dict__["__name__"]
        if name == "__path__" and me not in _state.paths:
            raise AttributeError(name)  # not a package
        if _state.probing and name in _PROBES.get(me, {}):
            if _PROBES[me][name]:
                _state.stood_in.add(me)
                return _StandIn()
            raise AttributeError(name)
        if _from_import_machinery() and _is_submodule(self, name):
            # ``from package import submodule``: let the import system import the
            # submodule (deferred in turn) instead of running the package to look for it.
            raise AttributeError(name)
        submodule = _FROM_SUBMODULE.get(me, {}).get(name)
        if submodule is not None:
            value = getattr(importlib.import_module(submodule), name)
            setattr(self, name, value)
            return value
        if name in _ON_USE.get(me, ()):
            return _OnUse(self, name)
        _load(self)
        return getattr(self, name)


def _root(name: str, packages: Iterable[str]) -> str | None:
    """The package of ``packages`` that ``name`` is or is inside of, if any."""
    for package in packages:
        if name == package or name.startswith(package + "."):
            return package
    return None


def _from_import_machinery() -> bool:
    """Whether the attribute is looked for by ``from package import name`` (the import
    system's ``_handle_fromlist`` asks ``hasattr`` before importing a submodule)."""
    frame = sys._getframe(2)
    return frame.f_code.co_name == "_handle_fromlist"


def _is_submodule(module: types.ModuleType, name: str) -> bool:
    path = module.__dict__.get("__path__")
    if path is None:
        return False
    return importlib.machinery.PathFinder.find_spec(f"{module.__name__}.{name}", path) is not None


def _load(module: types.ModuleType) -> None:
    with _state.lock:
        if type(module) is not _DeferredModule:
            return  # loaded by another thread, or it is running now (a circular import)
        name = module.__name__
        package = name.rpartition(".")[0]
        if package and name not in _SELF_CONTAINED:
            parent = sys.modules.get(package)
            if parent is not None:
                _load(parent)
            if type(module) is not _DeferredModule:
                return  # the package's __init__ loaded it
        plain: Any = module  # (mypy narrowed it to the deferred type above)
        plain.__class__ = types.ModuleType
        _state.packages.discard(name)  # a listed package: its imports are plain from now on
        if name in _state.paths:
            module.__path__ = _state.paths.pop(name)
        _state.deferred.discard(name)
        _state.loaded[name] = _trigger()
        spec = module.__spec__
        assert spec is not None and spec.loader is not None
        spec.loader.exec_module(module)
        shim = _SHIMS.get(name)
        if shim is not None and name in _state.stood_in:
            shim(module)


class _WrappingLoader(importlib.abc.Loader):
    """Creates the module as the real loader would; the module is then handed back to it."""

    def __init__(self, real: importlib.abc.Loader) -> None:
        self.real = real

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        return self.real.create_module(spec)

    def _hand_back(self, module: types.ModuleType) -> None:
        """Make the real loader the module's own, for its code and any reload."""
        spec = module.__spec__
        assert spec is not None
        spec.loader = module.__loader__ = self.real


class _DeferringLoader(_WrappingLoader):
    """Creates the module as the real loader would, and leaves its code for later."""

    def exec_module(self, module: types.ModuleType) -> None:
        self._hand_back(module)
        name = module.__name__
        if "__path__" in module.__dict__ and _root(name, _SUBMODULES_DEFERRED) is None:
            _state.paths[name] = module.__dict__.pop("__path__")
        module.__class__ = _DeferredModule
        _state.deferred.add(name)


class _ProbingLoader(_WrappingLoader):
    """Runs a module with :data:`_PROBES` answered (Crossbar's package ``__init__``)."""

    def exec_module(self, module: types.ModuleType) -> None:
        self._hand_back(module)
        _state.probing = True
        try:
            self.real.exec_module(module)
        finally:
            _state.probing = False


class DeferringFinder(importlib.abc.MetaPathFinder):
    """Finds the listed packages' source modules as deferred modules (``sys.meta_path``)."""

    def __init__(self, packages: Iterable[str]) -> None:
        _state.packages.update(packages)

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: types.ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if _root(fullname, _state.packages) is None and fullname != _PROBING_PACKAGE:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or not isinstance(spec.loader, importlib.machinery.SourceFileLoader):
            return None
        spec.loader = (_ProbingLoader if fullname == _PROBING_PACKAGE else _DeferringLoader)(spec.loader)
        return spec


def install(packages: Iterable[str] = CROSSBAR_UNUSED) -> DeferringFinder:
    """Defer ``packages`` in this process (once; packages already imported stay as they are)."""
    for finder in sys.meta_path:
        if isinstance(finder, DeferringFinder):
            return finder
    finder = DeferringFinder(packages)
    sys.meta_path.insert(0, finder)
    return finder


def installed() -> bool:
    return any(isinstance(f, DeferringFinder) for f in sys.meta_path)


def report() -> dict[str, Any]:
    """Which deferred modules were loaded after all (top-level name -> what loaded it first),
    and how many are still waiting."""
    loaded: dict[str, str] = {}
    for name, trigger in _state.loaded.items():
        loaded.setdefault(_root(name, CROSSBAR_UNUSED) or name, f"{name} from {trigger}")
    return {"installed": installed(), "loaded": loaded, "deferred": len(_state.deferred)}
