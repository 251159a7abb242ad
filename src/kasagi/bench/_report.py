"""The outputs of a benchmark: the JSON document, the table, and the PNG plot."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.table import Table

from kasagi.bench._results import RunResult

__all__ = ["plot", "summary_markdown", "summary_table", "write_json"]


def write_json(path: Path, document: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, default=str), encoding="utf-8")


def _fmt(value: Any, spec: str = ",.0f") -> str:
    if value is None:
        return "-"
    return format(value, spec)


def summary_table(rows: Sequence[dict[str, Any]]) -> Table:
    table = Table(title="kasagi bench: medians per load point (room-sync v1)")
    for name in (
        "point",
        "variant",
        "runs",
        "offered/s",
        "accepted/s",
        "deliv/s",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "max ms",
        "B/deliv",
        "viol",
        "srv CPU%",
        "us/msg",
        "srv RSS MB",
        "gen CPU%",
        "targets",
    ):
        table.add_column(name, justify="right" if name not in ("point", "variant", "targets") else "left")
    for row in sorted(rows, key=lambda r: (r["point"], r["variant"])):
        meets = row.get("meets", {})
        target = " ".join(f"{k}:{'ok' if v else 'MISS'}" for k, v in meets.items())
        extra = ""
        if row["point"] == "D" and row.get("rate") is not None:
            extra = f" (ramp: {row['rate']:g} Hz)"
        if row["point"] == "E" and row.get("kb_per_connection") is not None:
            extra = f" ({row['kb_per_connection']:.1f} KiB/conn)"
        table.add_row(
            row["point"] + extra,
            row["variant"],
            str(row["runs"]),
            _fmt(row.get("offered_s")),
            _fmt(row.get("accepted_s")),
            _fmt(row.get("deliveries_s")),
            _fmt(row.get("p50_ms"), ".1f"),
            _fmt(row.get("p90_ms"), ".1f"),
            _fmt(row.get("p99_ms"), ".1f"),
            _fmt(row.get("max_ms"), ".0f"),
            _fmt(row.get("bytes_per_delivery"), ".0f"),
            _fmt(row.get("violations"), ".0f"),
            _fmt(row.get("server_cpu_pct"), ".0f"),
            _fmt(row.get("cpu_us_per_message"), ".0f"),
            _fmt(row.get("server_rss_mb"), ".0f"),
            _fmt(row.get("generator_cpu_pct"), ".0f"),
            target,
        )
    return table


def plot(path: Path, rows: Sequence[dict[str, Any]], runs: Sequence[RunResult], title: str) -> None:
    """Latency percentiles and throughput per load point (variants side by side), and the
    ramp (accepted vs offered moves/s and p99 per step)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    has_ramp = any(r.point == "D" for r in runs)
    # The ramp's row only when the ramp ran (no empty panels).
    fig, grid = plt.subplots(2 if has_ramp else 1, 2, figsize=(13, 9 if has_ramp else 4.8), squeeze=False)
    axes = list(grid)
    points = sorted({r["point"] for r in rows if r["point"] not in ("D", "E")})
    variants = sorted({r["variant"] for r in rows})
    width = 0.8 / max(1, len(variants))
    by_key = {(r["point"], r["variant"]): r for r in rows}

    ax = axes[0][0]
    for vi, variant in enumerate(variants):
        for pi, point in enumerate(points):
            row = by_key.get((point, variant))
            if row is None or row.get("p50_ms") is None:
                continue
            x = pi + vi * width
            ax.bar(x, row["p99_ms"], width * 0.9, color=f"C{vi}", alpha=0.35)
            ax.bar(x, row["p90_ms"], width * 0.9, color=f"C{vi}", alpha=0.6)
            ax.bar(x, row["p50_ms"], width * 0.9, color=f"C{vi}", label=variant if pi == 0 else None)
    ax.set_xticks([p + width * (len(variants) - 1) / 2 for p in range(len(points))], points)
    ax.set_yscale("log")
    ax.set_ylabel("latency ms (p50 solid, p90, p99 light)")
    ax.set_title("latency per load point")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize="small")

    ax = axes[0][1]
    for vi, variant in enumerate(variants):
        for pi, point in enumerate(points):
            row = by_key.get((point, variant))
            if row is None or row.get("deliveries_s") is None:
                continue
            x = pi + vi * width
            ax.bar(x, row["deliveries_s"], width * 0.9, color=f"C{vi}", label=variant if pi == 0 else None)
            ax.plot([x - width / 2, x + width / 2], [row["expected_deliveries_s"]] * 2, color="k", lw=1)
    ax.set_xticks([p + width * (len(variants) - 1) / 2 for p in range(len(points))], points)
    ax.set_ylabel("deliveries/s (black line: expected)")
    ax.set_title("throughput per load point")
    ax.legend(loc="upper left", fontsize="small")
    if not has_ramp:
        _save(fig, title, path)
        return

    ax = axes[1][0]
    ax2 = axes[1][1]
    for vi, variant in enumerate(variants):
        ramp = [r for r in runs if r.point == "D" and r.variant == variant]
        for ri, run in enumerate(ramp):
            offered = [s.offered_moves_s for s in run.steps]
            ax.plot(
                offered,
                [s.accepted_moves_s for s in run.steps],
                "o-",
                color=f"C{vi}",
                alpha=0.7,
                label=variant if ri == 0 else None,
            )
            ax2.plot(
                offered,
                [s.latency_ms["p99"] for s in run.steps],
                "o-",
                color=f"C{vi}",
                alpha=0.7,
                label=variant if ri == 0 else None,
            )
    lim = max([s.offered_moves_s for r in runs if r.point == "D" for s in r.steps] or [1])
    ax.plot([1, lim], [0.99, lim * 0.99], "k:", lw=1, label="offered valid")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("offered moves/s (ramp D, 10 x 10)")
    ax.set_ylabel("accepted moves/s")
    ax.set_title("ramp: accepted vs offered")
    ax.legend()
    ax2.axhline(100, color="r", ls=":", lw=1, label="100 ms")
    ax2.set_xscale("log")
    ax2.set_yscale("log")
    ax2.set_xlabel("offered moves/s (ramp D)")
    ax2.set_ylabel("p99 latency ms")
    ax2.set_title("ramp: p99 latency")
    ax2.legend()
    _save(fig, title, path)


def _save(fig: Any, title: str, path: Path) -> None:
    import matplotlib.pyplot as plt

    fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)


def summary_markdown(rows: Sequence[dict[str, Any]]) -> str:
    """The medians as a Markdown table (for BENCHMARKS.md)."""
    head = (
        "| point | variant | runs | offered moves/s | accepted moves/s | deliveries/s "
        "| p50 ms | p90 ms | p99 ms | max ms | bytes/delivery | violations "
        "| server CPU % | CPU us/msg | server RSS MB | generator CPU % | targets |"
    )
    lines = [head, "|" + "---|" * 17]
    for row in sorted(rows, key=lambda r: (r["point"], r["variant"])):
        point = row["point"]
        if point == "D" and row.get("rate") is not None:
            point += f" (last passing step: {row['rate']:g} Hz)"
        if point == "E" and row.get("kb_per_connection") is not None:
            point += f" ({row['kb_per_connection']:.1f} KiB per connection)"
        meets = ", ".join(f"{k} {'ok' if v else 'MISSED'}" for k, v in row.get("meets", {}).items())
        cells = [
            point,
            row["variant"],
            str(row["runs"]),
            _fmt(row.get("offered_s")),
            _fmt(row.get("accepted_s")),
            _fmt(row.get("deliveries_s")),
            _fmt(row.get("p50_ms"), ".1f"),
            _fmt(row.get("p90_ms"), ".1f"),
            _fmt(row.get("p99_ms"), ".1f"),
            _fmt(row.get("max_ms"), ".0f"),
            _fmt(row.get("bytes_per_delivery"), ".0f"),
            _fmt(row.get("violations"), ".0f"),
            _fmt(row.get("server_cpu_pct"), ".0f"),
            _fmt(row.get("cpu_us_per_message"), ".0f"),
            _fmt(row.get("server_rss_mb"), ".0f"),
            _fmt(row.get("generator_cpu_pct"), ".0f"),
            meets,
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
