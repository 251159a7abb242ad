"""``kasagi bench``: options, the progress display, and the outputs."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from kasagi.bench._runner import DEFAULT_WINDOW, Progress

__all__ = ["add_arguments", "main", "parse_variant", "run_from_args"]

_VARIANT_KEYS = {
    "tick",
    "component",
    "input",
    "serializer",
    "loglevel",
    "raw",
    "hash_every",
    "store",
    "skiplog",
    "optimize",
    "gcfreeze",
    "refreeze",
    "directwrite",
    "frames",
    "unmask",
    "local",
    "routers",
    "workers",
    "switch",
    "early",
    "lean",
    "overload_delay",
    "overload_lag",
    "max_tick",
    "align",
}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--points", default="A,B,C,D,E", help="load points to run, e.g. A,B (default: A-E; T: server loops, run first)"
    )
    p.add_argument("--loop-rooms", type=int, default=1000, help="point T: chase rooms (20 Hz, 2 members, no actions)")
    p.add_argument("--repeats", type=int, default=3, help="runs of each point (medians are reported)")
    p.add_argument(
        "--baseline", choices=("raw", "none"), default="none", help="also run the raw baseline, side by side"
    )
    p.add_argument("--smoke", action="store_true", help="a few seconds, every code path (for tests)")
    p.add_argument(
        "--views",
        action="store_true",
        help="the views point instead: 100 rooms x 4 members, private changes every tick vs the same public",
    )
    p.add_argument(
        "--views-shape",
        choices=("counters", "cards"),
        default="counters",
        help="the views point's state: one number per member, or the card example's hidden hands",
    )
    p.add_argument("--views-rooms", type=int, default=100, help="the views point's rooms (4 members each)")
    p.add_argument(
        "--url", default=None, help="measure a running node (ws://127.0.0.1:PORT/ws) instead of starting one per point"
    )
    p.add_argument(
        "--input",
        choices=("act", "publish"),
        default="act",
        help="how clients send moves: act (RPC) or the fast input path",
    )
    p.add_argument("--tick", type=float, default=None, help="room service tick, seconds (default: the service default)")
    p.add_argument("--store", default=None, help="the room store, e.g. memory (default: kasagi up's, SQLite)")
    p.add_argument("--component", choices=("router", "process"), default="router", help="where the room service runs")
    p.add_argument(
        "--backend-serializer",
        choices=("msgpack", "cbor"),
        default="msgpack",
        help="serializer of the backend leg (component=process)",
    )
    p.add_argument(
        "--loglevel",
        default="info",
        choices=("debug", "info", "warn", "error"),
        help="the node's log level (default: info, as kasagi up)",
    )
    p.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="NAME:KEY=VALUE,...",
        help=f"run this server variant side by side (keys: {', '.join(sorted(_VARIANT_KEYS))}); repeatable",
    )
    p.add_argument(
        "--serializer", choices=("msgpack", "cbor", "json"), default="msgpack", help="the clients' WAMP serializer"
    )
    p.add_argument(
        "--generator",
        choices=("node", "python"),
        default="node",
        help="the load generator: Autobahn JS clients in Node, as browsers run them (default), or a lean Python one",
    )
    p.add_argument("--workers", type=int, default=2, help="generator processes (all on the generator core)")
    p.add_argument(
        "--window",
        type=_window,
        default=DEFAULT_WINDOW,
        help=f"moves a client keeps unanswered at most, as the SDKs do (default {DEFAULT_WINDOW}; 0: no bound)",
    )
    p.add_argument("--warmup", type=float, default=None)
    p.add_argument("--measure", type=float, default=None)
    p.add_argument("--drain", type=float, default=None)
    p.add_argument(
        "--ramp-measure",
        type=float,
        default=None,
        help="measured seconds of each ramp step after the first (default: --measure)",
    )
    p.add_argument(
        "--ramp-warmup",
        type=float,
        default=None,
        help="warm-up seconds of each ramp step after the first (default: --warmup)",
    )
    p.add_argument(
        "--profile", default=None, metavar="DIR", help="sample the server with py-spy in each measured window"
    )
    p.add_argument("--no-pin", action="store_true", help="do not pin server and generator to cores 0 and 1")
    p.add_argument("--out", default="bench-results", help="directory for results.json and bench.png")
    p.add_argument("--plot", default=None, help="where to write the PNG (default: OUT/bench.png)")
    p.add_argument("--json", default=None, help="where to write the JSON (default: OUT/results.json)")


def _window(text: str) -> int:
    """``--window``: a whole number of moves, 0 for no bound."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"takes a whole number of moves, 0 for no bound (got {text!r})")
    return value


def _flag(value: str) -> bool:
    return value.lower() in ("1", "true", "yes", "")


#: Variant keys that set a room service setting: key -> (setting, parser).
_SERVICE_KEYS: dict[str, tuple[str, Callable[[str], Any]]] = {
    "overload_delay": ("overload_delay", float),
    "overload_lag": ("overload_lag", float),
    "max_tick": ("max_tick", float),
    "tick": ("tick", float),
    "hash_every": ("hash_every", int),
    "store": ("store", str),
    "align": ("aligned_commits", _flag),
}


def parse_variant(spec: str) -> Any:
    """``name:key=value,...`` -> a :class:`~kasagi.bench.Variant`."""
    from kasagi.bench import Variant

    name, _, rest = spec.partition(":")
    kwargs: dict[str, Any] = {"service": {}}
    for item in filter(None, rest.split(",")):
        key, _, value = item.partition("=")
        if key not in _VARIANT_KEYS:
            raise SystemExit(f"kasagi bench: unknown variant key {key!r} (one of {', '.join(sorted(_VARIANT_KEYS))})")
        if key == "switch":
            kwargs["switch_interval"] = float(value)
        elif key in ("early", "lean"):
            kwargs["early_refusal" if key == "early" else "lean_connections"] = value not in ("0", "false", "off", "no")
        elif key in _SERVICE_KEYS:
            setting, parse = _SERVICE_KEYS[key]
            kwargs["service"][setting] = parse(value)
        elif key == "refreeze":
            kwargs["gc_refreeze_every"] = float(value)
        elif key in ("routers", "workers"):
            kwargs["routers" if key == "routers" else "room_workers"] = int(value)
        elif key == "input":
            kwargs["input_path"] = value
        elif key == "serializer":
            kwargs["backend_serializer"] = value
        elif key in ("raw", "skiplog", "optimize", "gcfreeze", "directwrite", "frames", "unmask", "local"):
            flags = {
                "local": "local_calls",
                "skiplog": "skip_debug_log_args",
                "optimize": "python_optimize",
                "gcfreeze": "gc_freeze",
                "directwrite": "direct_writes",
                "frames": "shared_frames",
                "unmask": "quick_unmasking",
            }
            field = flags.get(key, key)
            kwargs[field] = _flag(value)
        else:
            kwargs[key] = value
    return Variant(name or "variant", **kwargs)


def _variants(args: argparse.Namespace) -> list[Any]:
    from kasagi.bench import Variant

    service: dict[str, Any] = {}
    if args.tick is not None:
        service["tick"] = args.tick
    if args.store is not None:
        service["store"] = args.store
    main = Variant(
        "kasagi",
        service=service,
        component=args.component,
        backend_serializer=args.backend_serializer,
        loglevel=args.loglevel,
        input_path=args.input,
    )
    variants = [parse_variant(v) for v in args.variant] if args.variant else [main]
    if args.baseline == "raw":
        variants.append(
            Variant(
                "raw",
                raw=True,
                component=args.component,
                backend_serializer=args.backend_serializer,
                loglevel=args.loglevel,
                input_path=args.input,
            )
        )
    return variants


class _RichProgress(Progress):
    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        self.console = Console(stderr=True)
        if not self.console.is_terminal:
            self.console = Console(stderr=True, width=200)
        self.bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(),
            console=self.console,
            transient=False,
        )
        self.task: Any = None

    def __enter__(self) -> _RichProgress:
        self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.stop()

    def phase(self, label: str, total: float) -> None:
        if self.task is not None:
            self.bar.update(self.task, completed=self.bar.tasks[-1].total)
            self.bar.remove_task(self.task)
        self.task = self.bar.add_task(label, total=total, info="")

    def update(self, done: float, info: str) -> None:
        if self.task is not None:
            self.bar.update(self.task, completed=done, info=info)

    def log(self, text: str) -> None:
        self.bar.console.print(text)


def run_from_args(args: argparse.Namespace) -> int:
    if args.views:
        return _run_views(args)
    from kasagi.bench import (
        SMOKE,
        SMOKE_PHASES,
        BenchConfig,
        Phases,
        plot,
        points_named,
        run_bench,
        summary_markdown,
        summary_table,
        write_json,
    )

    out = Path(args.out)
    base = SMOKE_PHASES if args.smoke else Phases()
    phases = Phases(
        warmup=args.warmup if args.warmup is not None else base.warmup,
        measure=args.measure if args.measure is not None else base.measure,
        drain=args.drain if args.drain is not None else base.drain,
    )
    ramp_phases = Phases(
        warmup=args.ramp_warmup if args.ramp_warmup is not None else phases.warmup,
        measure=args.ramp_measure if args.ramp_measure is not None else phases.measure,
        drain=phases.drain,
    )
    names = [p.strip() for p in args.points.split(",") if p.strip()]
    if not args.smoke and "T" in names:
        from kasagi.bench._loops import run_loop_point

        result = run_loop_point(
            rooms=args.loop_rooms,
            warmup=args.warmup if args.warmup is not None else 5.0,
            measure=args.measure if args.measure is not None else 20.0,
            server_cpus=None if args.no_pin else "0",
            generator_cpus=None if args.no_pin else {1},
        )
        print(result.line(), flush=True)
        names.remove("T")
        if not names:
            return 0
    points = [SMOKE] if args.smoke else points_named(names)
    config = BenchConfig(
        points=points,
        variants=_variants(args),
        repeats=1 if args.smoke else args.repeats,
        phases=phases,
        ramp_phases=ramp_phases,
        workers=args.workers,
        window=args.window,
        serializer=args.serializer,
        generator=args.generator,
        url=args.url,
        server_cpus=None if args.no_pin else "0",
        generator_cpus=None if args.no_pin else {1},
        join_timeout=60.0 if args.smoke else 240.0,
        profile_dir=Path(args.profile) if args.profile else None,
    )
    command = (
        "kasagi bench " + " ".join(shlex.quote(a) for a in sys.argv[2:])
        if len(sys.argv) > 1 and sys.argv[1] == "bench"
        else "kasagi bench"
    )
    with _RichProgress() as progress:
        document = run_bench(config, progress, command)
    runs = document.pop("_runs")
    progress.console.print(summary_table(document["summary"]))
    for row in document["summary"]:
        if row.get("generator_saturated_runs"):
            progress.console.print(
                f"[yellow]warning: {row['point']} {row['variant']}: the generator used over 90% of its core in "
                f"{row['generator_saturated_runs']} run(s): those figures measure the generator, not the server"
            )
    for error in document["errors"]:
        progress.console.print(f"[red]{error}")
    json_path = Path(args.json) if args.json else out / "results.json"
    plot_path = Path(args.plot) if args.plot else out / "bench.png"
    write_json(json_path, document)
    json_path.with_name("summary.md").write_text(summary_markdown(document["summary"]), encoding="utf-8")
    plot(plot_path, document["summary"], runs, f"kasagi bench, room-sync v1 ({document['meta']['started']})")
    progress.console.print(f"results: {json_path}  plot: {plot_path}")
    return 0 if not document["errors"] else 1


def _run_views(args: argparse.Namespace) -> int:
    from kasagi.bench.views import run_views

    results = run_views(
        warmup=args.warmup if args.warmup is not None else 5.0,
        measure=args.measure if args.measure is not None else 20.0,
        pin=not args.no_pin,
        shape=args.views_shape,
        rooms=args.views_rooms,
    )
    out = Path(args.json) if args.json else Path(args.out) / "views.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    for row in results:
        print(json.dumps(row))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``kasagi bench [options]`` (the ``kasagi`` command hands its arguments over unparsed)."""
    parser = argparse.ArgumentParser(
        prog="kasagi bench", description="Run the room-sync v1 workload and report (see BENCHMARKS.md)."
    )
    add_arguments(parser)
    return run_from_args(parser.parse_args(argv))
