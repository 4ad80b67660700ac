#!/usr/bin/env python3
"""PNG plots of the benchmarks' JSON, written beside it: python bench/plots.py FILE.json [FILE.json ...]

The bench scripts call `write` after writing their JSON; this command redraws from a saved one. The kind of
each file is read from its shape:
- bootstrap_bench.py's list of labs (one per N): controller CPU per task-host against N, for the first converge
  and the no-op rerun (`<stem>-controller-cost.png`);
- bootstrap_bench.py --levers: each lever's no-op rerun, off and on, wall seconds per run
  (`<stem>-levers.png`);
- kubernetes_bench.py's list of clusters: seconds from lab up until every node is Ready against N, with the
  nodes and kubernetes phases under it (`<stem>-time-to-ready.png`).
Drawn with matplotlib's Figure objects, not pyplot: no display needed.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

# Figure objects, never pyplot: nothing chooses a GUI backend, so no display is needed.
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator


def controller_cost(labs: list[dict]) -> Figure:
    """Controller CPU ms per task-host against the lab's node count, one line per run kind."""
    figure = Figure(figsize=(7, 4.5))
    axes = figure.subplots()
    for key, label in (("first_converge", "first converge"), ("noop_rerun", "no-op rerun")):
        points = sorted((lab["nodes"], lab[key]["controller_ms_per_task_host"]) for lab in labs
                        if lab.get(key, {}).get("controller_ms_per_task_host") is not None)
        if points:
            axes.plot(*zip(*points), marker="o", label=label)
    axes.set(xlabel="nodes", ylabel="controller CPU ms per task-host", title="Controller cost per task-host",
             ylim=(0, None))
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))  # node counts
    axes.legend()
    axes.grid(alpha=0.3)
    return figure


def levers(rows: list[dict]) -> Figure:
    """Wall seconds of each lever's runs, a bar per setting, grouped by lever and run."""
    groups: dict[str, list[tuple[str, float]]] = {}
    for row in rows:
        groups.setdefault(f"{row['lever']}\n{row['phase']}", []).append((row["setting"], row["wall_s"]))
    figure = Figure(figsize=(max(6.0, 1.4 * len(rows) + 0.6 * len(groups)), 4.5))  # room for each bar's label
    axes = figure.subplots()
    position, ticks = 0.0, []
    for group, settings in groups.items():
        start = position
        for setting, wall in settings:
            bar = axes.bar(position, wall, width=0.8)
            axes.bar_label(bar, labels=[f"{setting}\n{wall:g} s"], fontsize=7)
            position += 1
        ticks.append(((start + position - 1) / 2, group))
        position += 0.8
    axes.set_xticks([t for t, _ in ticks], [label for _, label in ticks], fontsize=8)
    axes.set(ylabel="wall seconds", title="No-op reruns, each lever off and on")
    axes.margins(y=0.2)
    return figure


def time_to_ready(clusters: list[dict]) -> Figure:
    """Seconds from lab up until every node is Ready against N, and the two phases' wall times."""
    figure = Figure(figsize=(7, 4.5))
    axes = figure.subplots()
    ordered = sorted(clusters, key=lambda c: c["nodes"])
    nodes = [c["nodes"] for c in ordered]
    axes.plot(nodes, [c["all_ready_from_lab_up_s"] for c in ordered], marker="o", label="every node Ready")
    for key, label in (("kubernetes_phase", "kubernetes phase"), ("nodes_phase", "nodes phase")):
        axes.plot(nodes, [c[key]["wall_s"] for c in ordered], marker=".", linestyle="--", label=label)
    axes.set(xlabel="nodes (1 control plane)", ylabel="seconds", title="Time to Ready from lab up", ylim=(0, None))
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.legend()
    axes.grid(alpha=0.3)
    return figure


def kind(data: object) -> tuple[str, Callable[[list[dict]], Figure]] | None:
    """Which plot a bench's JSON makes, from its shape; None for a shape no plot reads."""
    if isinstance(data, dict) and isinstance(data.get("levers"), list):
        data = data["levers"]
    if not isinstance(data, list) or not data or not all(isinstance(item, dict) for item in data):
        return None
    first = data[0]
    if "lever" in first:
        return "levers", levers
    if "all_ready_from_lab_up_s" in first:
        return "time-to-ready", time_to_ready
    if "first_converge" in first:
        return "controller-cost", controller_cost
    return None


def write(json_path: Path) -> Path | None:
    """The PNG of a bench's JSON, beside it; None when no plot reads its shape."""
    data = json.loads(json_path.read_text())
    found = kind(data)
    if found is None:
        return None
    name, draw = found
    rows = data["levers"] if isinstance(data, dict) else data
    png = json_path.with_name(f"{json_path.stem}-{name}.png")
    draw(rows).savefig(png, dpi=110, bbox_inches="tight")
    return png


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__.splitlines()[0].split(": ", 1)[1], file=sys.stderr)
        return 2
    status = 0
    for name in argv:
        png = write(Path(name))
        if png is None:
            print(f"{name}: not the JSON of a benchmark with a plot", file=sys.stderr)
            status = 2
        else:
            print(f"plot: {png}")
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
