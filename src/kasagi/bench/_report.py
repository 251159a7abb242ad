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


#: The figures of a summary row: (terminal header, Markdown header, key, format).
_FIGURES = (
    ("offered/s", "offered moves/s", "offered_s", ",.0f"),
    ("accepted/s", "accepted moves/s", "accepted_s", ",.0f"),
    ("refused/s", "refused moves/s (retry_after)", "throttled_s", ",.0f"),
    ("held/s", "held moves/s", "held_s", ",.0f"),
    ("deliv/s", "deliveries/s", "deliveries_s", ",.0f"),
    ("p50 ms", "p50 ms", "p50_ms", ".1f"),
    ("p90 ms", "p90 ms", "p90_ms", ".1f"),
    ("p99 ms", "p99 ms", "p99_ms", ".1f"),
    ("max ms", "max ms", "max_ms", ".0f"),
    ("B/deliv", "bytes/delivery", "bytes_per_delivery", ".0f"),
    ("viol", "violations", "violations", ".0f"),
    ("srv CPU%", "server CPU %", "server_cpu_pct", ".0f"),
    ("us/msg", "CPU us/msg", "cpu_us_per_message", ".0f"),
    ("srv RSS MB", "server RSS MB", "server_rss_mb", ".0f"),
    ("gen CPU%", "generator CPU %", "generator_cpu_pct", ".0f"),
)


def _figures(row: dict[str, Any]) -> list[str]:
    return [_fmt(row.get(key), spec) for _, _, key, spec in _FIGURES]


def _point(row: dict[str, Any], *, short: bool) -> str:
    """The load point, with the ramp's last passing rate (D) or the memory per connection (E)."""
    point = str(row["point"])
    if point == "D" and row.get("rate") is not None:
        return point + (f" (ramp: {row['rate']:g} Hz)" if short else f" (last passing step: {row['rate']:g} Hz)")
    if point == "E" and row.get("kb_per_connection") is not None:
        kib = row["kb_per_connection"]
        return point + (f" ({kib:.1f} KiB/conn)" if short else f" ({kib:.1f} KiB per connection)")
    return point


def _ordered(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(rows, key=lambda r: (r["point"], r["variant"]))


def summary_table(rows: Sequence[dict[str, Any]]) -> Table:
    table = Table(title="kasagi bench: medians per load point (room-sync v1)")
    table.add_column("point")
    table.add_column("variant")
    table.add_column("runs", justify="right")
    for short, _, _, _ in _FIGURES:
        table.add_column(short, justify="right")
    table.add_column("targets")
    for row in _ordered(rows):
        target = " ".join(f"{k}:{'ok' if v else 'MISS'}" for k, v in row.get("meets", {}).items())
        table.add_row(_point(row, short=True), row["variant"], str(row["runs"]), *_figures(row), target)
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
    names = ["point", "variant", "runs", *(long for _, long, _, _ in _FIGURES), "targets"]
    lines = ["| " + " | ".join(names) + " |", "|" + "---|" * len(names)]
    for row in _ordered(rows):
        meets = ", ".join(f"{k} {'ok' if v else 'MISSED'}" for k, v in row.get("meets", {}).items())
        cells = [_point(row, short=False), row["variant"], str(row["runs"]), *_figures(row), meets]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
