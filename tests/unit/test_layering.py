"""The layering of the tree, read from the imports (parsed, never imported).

- The pure core (``kasagi.core``) imports, of Kasagi, only :mod:`kasagi.wire` and itself; of
  the rest, only the standard library and the pure data libraries in :data:`CORE_LIBRARIES`
  (no Twisted, Autobahn, txredisapi: no I/O).
- The stores (``kasagi.store``) never import the client, the node, the WAMP sessions' helpers
  or the cluster.
- The product (everything under ``src/kasagi`` but ``kasagi.testing`` and ``kasagi.bench``,
  plus ``components/`` and ``router/``) never imports the test or benchmark tooling. One
  exception, in :data:`LAZY_TOOLING`: the ``kasagi bench`` subcommand hands its arguments to
  the benchmark, so ``kasagi.cli.cmd_bench`` imports ``kasagi.bench.cli`` inside the function
  (nothing else of the product loads it, and ``kasagi up`` never does).

Every import counts: at module level, inside functions, under ``TYPE_CHECKING``.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

#: Third-party libraries the core may use: pure functions over data, no I/O.
CORE_LIBRARIES = frozenset(
    {
        "rfc8785",  # canonical JSON for the state hash
        "jsonschema",  # the doc room type's schema validation
    }
)
#: The store layer may not reach up into these.
STORE_FORBIDDEN = ("kasagi.client", "kasagi.node", "kasagi.wamp", "kasagi.cluster")
#: The tooling the product may not import.
TOOLING = ("kasagi.testing", "kasagi.bench")
#: (module, enclosing function, imported module): the only product imports of the tooling.
LAZY_TOOLING = frozenset({("kasagi.cli", "cmd_bench", "kasagi.bench.cli")})


@dataclass(frozen=True)
class Import:
    """One imported name: ``target`` is the dotted name as far as the statement spells it
    (``from kasagi import wire`` imports ``kasagi.wire``)."""

    module: str
    function: str | None
    target: str
    line: int

    def __str__(self) -> str:
        where = f"{self.module}:{self.line}" + (f" (in {self.function})" if self.function else "")
        return f"{where} imports {self.target}"


def _under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def imports_of(module: str, source: str, is_package: bool = False) -> list[Import]:
    """Every import in ``source`` (the text of ``module``), with its enclosing function."""
    package = module if is_package else module.rpartition(".")[0]
    found: list[Import] = []

    def visit(node: ast.AST, function: str | None) -> None:
        for child in ast.iter_child_nodes(node):
            inner = child.name if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef) else function
            if isinstance(child, ast.Import):
                found.extend(Import(module, function, a.name, child.lineno) for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    parts = package.split(".")
                    anchor = ".".join(parts[: len(parts) - child.level + 1])
                    base = f"{anchor}.{base}" if base else anchor
                found.extend(Import(module, function, f"{base}.{a.name}", child.lineno) for a in child.names)
            visit(child, inner)

    visit(ast.parse(source), None)
    return found


def violations(module: str, source: str, is_package: bool = False) -> list[str]:
    """What in ``source`` breaks the layering rules, one line per import."""
    out: list[str] = []
    for imp in imports_of(module, source, is_package):
        top = imp.target.partition(".")[0]
        if _under(module, "kasagi.core"):
            if top == "kasagi":
                if not (_under(imp.target, "kasagi.wire") or _under(imp.target, "kasagi.core")):
                    out.append(f"{imp}: the core imports only kasagi.wire of Kasagi")
            elif top != "__future__" and top not in sys.stdlib_module_names and top not in CORE_LIBRARIES:
                out.append(f"{imp}: the core imports only the standard library and {sorted(CORE_LIBRARIES)}")
        if _under(module, "kasagi.store"):
            for layer in STORE_FORBIDDEN:
                if _under(imp.target, layer):
                    out.append(f"{imp}: the store never imports {layer}")
        if not any(_under(module, t) for t in TOOLING):
            for tool in TOOLING:
                if _under(imp.target, tool) and not any(
                    imp.module == m and imp.function == f and _under(imp.target, t) for m, f, t in LAZY_TOOLING
                ):
                    out.append(f"{imp}: the product never imports {tool}")
    return out


def modules() -> Iterator[tuple[str, Path]]:
    """(dotted name, path) of every module of the package, ``components/`` and ``router/``."""
    for base, prefix in ((ROOT / "src", ""), (ROOT, "components"), (ROOT, "router")):
        top = base / prefix if prefix else base / "kasagi"
        for path in sorted(top.rglob("*.py")):
            parts = path.relative_to(base).with_suffix("").parts
            yield ".".join(parts[:-1] if parts[-1] == "__init__" else parts), path


def test_the_tree_keeps_its_layers() -> None:
    """No module of the package, components/ or router/ imports across a layer it may not."""
    found = list(modules())
    names = {name for name, _ in found}
    # Not vacuous: the walk sees every layer the rules speak of.
    for expected in ("kasagi.core.room", "kasagi.store.redis", "kasagi.cli", "components.room_service", "router"):
        assert any(_under(n, expected) for n in names), f"the walk missed {expected}"
    problems = [v for name, path in found for v in violations(name, path.read_text("utf-8"), path.stem == "__init__")]
    assert problems == [], "\n".join(problems)


def test_the_bench_subcommand_is_the_only_product_import_of_the_tooling() -> None:
    """The one allowed import of the tooling is present where the rules say, and only there."""
    cli = ROOT / "src" / "kasagi" / "cli.py"
    tooling = [i for i in imports_of("kasagi.cli", cli.read_text("utf-8")) if _under(i.target, "kasagi.bench")]
    assert [(i.module, i.function, i.target) for i in tooling] == [("kasagi.cli", "cmd_bench", "kasagi.bench.cli.main")]


def test_a_core_module_importing_twisted_or_the_service_is_reported() -> None:
    """A core module importing Twisted, or a Kasagi layer other than the wire, is reported."""
    source = (
        "from kasagi import wire\nimport json\n"
        "from twisted.internet import task\nfrom kasagi.service import RoomRunner\n"
    )
    assert violations("kasagi.core.fake", source) == [
        "kasagi.core.fake:3 imports twisted.internet.task: the core imports only the standard library and "
        "['jsonschema', 'rfc8785']",
        "kasagi.core.fake:4 imports kasagi.service.RoomRunner: the core imports only kasagi.wire of Kasagi",
    ]


def test_a_relative_import_is_resolved_before_it_is_judged() -> None:
    """``from ..wamp import edge`` inside the store is reported as an import of kasagi.wamp."""
    assert violations("kasagi.store.fake", "from ..wamp import edge\nfrom . import codec\n") == [
        "kasagi.store.fake:1 imports kasagi.wamp.edge: the store never imports kasagi.wamp"
    ]


def test_a_store_importing_the_client_or_cluster_is_reported() -> None:
    """A store module importing the client or the cluster is reported, even inside a function."""
    source = "def f():\n    from kasagi.client import KasagiClient\n\nimport kasagi.cluster.leases\n"
    assert violations("kasagi.store.fake", source) == [
        "kasagi.store.fake:2 (in f) imports kasagi.client.KasagiClient: the store never imports kasagi.client",
        "kasagi.store.fake:4 imports kasagi.cluster.leases: the store never imports kasagi.cluster",
    ]


def test_the_product_importing_the_tooling_is_reported() -> None:
    """A product module importing kasagi.testing or kasagi.bench is reported; the tooling itself may."""
    source = "from kasagi.testing import free_port\nfrom kasagi import bench\n"
    assert violations("components.fake", source) == [
        "components.fake:1 imports kasagi.testing.free_port: the product never imports kasagi.testing",
        "components.fake:2 imports kasagi.bench: the product never imports kasagi.bench",
    ]
    assert violations("kasagi.bench.fake", source) == []


def test_the_lazy_bench_import_is_allowed_only_inside_its_function() -> None:
    """kasagi.cli may import the benchmark's command line inside cmd_bench, nowhere else."""
    inside = "def cmd_bench(argv):\n    from kasagi.bench.cli import main\n"
    elsewhere = "from kasagi.bench.cli import main\n\ndef cmd_up(args):\n    from kasagi.bench import run_bench\n"
    assert violations("kasagi.cli", inside) == []
    assert violations("kasagi.cli", elsewhere) == [
        "kasagi.cli:1 imports kasagi.bench.cli.main: the product never imports kasagi.bench",
        "kasagi.cli:4 (in cmd_up) imports kasagi.bench.run_bench: the product never imports kasagi.bench",
    ]
