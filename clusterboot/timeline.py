"""The run timeline: timeline.html in a run's artifacts folder, drawn after the run from ansible-runner's events.

One self-contained file (inline CSS and SVG, nothing fetched when it is viewed): a Gantt of each host's tasks
over time, coloured by role; failures and unreachable hosts in red with their message on hover; the failures
and the slowest tasks as tables. Events are read from every job_events folder under the run's folder, so a
sharded run (a sub-folder per step and shard) is drawn as one.

read_events (files) -> build (a Timeline of dataclasses) -> render (an HTML string); write ties them together.
"""

from __future__ import annotations

import datetime
import html
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

from clusterboot.errors import UserError

FILE_NAME = "timeline.html"
GROUP_OVER = 40  # more hosts than this: one row per block of hosts, so 100 hosts stay readable
GROUPED_ROWS = 10  # about how many blocks the hosts are cut into then (20 rows: 1.8 times the bytes)
MESSAGE_CHARS = 300
SLOWEST_LISTED = 15
RESULTS = {"runner_on_ok": "ok", "runner_on_failed": "failed", "runner_on_unreachable": "unreachable",
           "runner_on_skipped": "skipped"}
PROBLEMS = ("failed", "unreachable")

# Chart geometry, in SVG user units (the SVG scales to the page's width).
LABEL_WIDTH = 190
CHART_WIDTH = 1000
ROW_HEIGHT = 16
BAR_HEIGHT = 12
AXIS_HEIGHT = 30
# Tasks narrower than this are drawn merged with their narrow neighbours: hundreds of sub-pixel rectangles
# would each cost bytes and show nothing.
NARROW_UNITS = 2.0
PROBLEM_MIN_UNITS = 5.0  # a failure a few milliseconds long still has to catch the eye
PROBLEM_CSS = ("bad", "unf")
# Role colours, none of them red: red means a failure.
PALETTE = ("#4e79a7", "#59a14f", "#b07aa1", "#76b7b2", "#edc948", "#9c755f", "#f28e2b", "#8cd17d",
           "#499894", "#a0cbe8", "#d4a6c8", "#bab0ac", "#79706e", "#b6992d", "#86bcb6", "#d7b5a6",
           "#6b8e23", "#9467bd", "#17becf", "#bcbd22", "#8c6d31", "#5f7ea8", "#c49c94", "#7f7f7f")


@dataclass(frozen=True, slots=True)
class Bar:
    """One task's result on one host."""

    source: str  # where its job_events folder is, relative to the run's folder: one per ansible-playbook process
    task_uuid: str
    host: str
    start: float  # seconds since the epoch
    end: float
    play: str
    role: str
    task: str
    status: str  # ok, changed, failed, unreachable, ignored (failed under ignore_errors), unfinished
    message: str = ""  # failed, unreachable, ignored and unfinished only

    @property
    def seconds(self) -> float:
        return max(0.0, self.end - self.start)


@dataclass(frozen=True)
class TaskTotal:
    task: str
    role: str
    hosts: int
    longest: float
    total: float


@dataclass(frozen=True)
class Timeline:
    name: str
    start: float
    end: float
    hosts: list[str]  # in natural order (wk2 before wk10)
    bars: list[Bar]  # skipped results are counted, not drawn
    skipped: int
    plays: list[tuple[float, str]]  # each play's start and name, in order
    slowest: list[TaskTotal]

    @property
    def failures(self) -> list[Bar]:
        return [bar for bar in self.bars if bar.status in PROBLEMS]


@dataclass(frozen=True, slots=True)
class Mark:
    """What the chart draws: a bar, several hosts' bars of one task merged, or a run of short tasks merged."""

    start: float
    end: float
    css: str
    title: str
    task: str = ""  # named in the title of narrow marks merged
    mergeable: bool = False  # ok or changed: may join narrow neighbours


@dataclass(frozen=True)
class Row:
    label: str
    marks: list[Mark]


def read_events(run_dir: Path) -> list[tuple[str, dict]]:
    """Every event under the run's folder with its job_events folder, in each folder's order."""
    events = []
    for folder in sorted(run_dir.rglob("job_events")):
        source = str(folder.relative_to(run_dir).parent)
        for path in folder.glob("*.json"):
            if path.name.endswith("-partial.json"):
                continue  # an event ansible-runner was still writing when it stopped
            try:
                event = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue  # a file cut short by a kill: the rest still make a timeline
            if isinstance(event, dict):
                events.append((source, event))
    events.sort(key=lambda item: (item[0], item[1].get("counter", 0)))
    return events


def build(events: list[tuple[str, dict]], name: str) -> Timeline:
    bars: list[Bar] = []
    started: dict[tuple[str, str, str], tuple[float, dict]] = {}  # task-hosts without a result yet
    last_seen: dict[str, float] = {}
    plays: list[tuple[float, str]] = []
    skipped = 0
    for source, event in events:
        kind, data = event.get("event", ""), event.get("event_data") or {}
        created = _seconds(event.get("created"))
        if created is not None:
            last_seen[source] = max(created, last_seen.get(source, created))
        key = (source, str(data.get("task_uuid", "")), str(data.get("host", "")))
        if kind == "playbook_on_play_start" and created is not None:
            plays.append((created, str(data.get("name") or data.get("play") or "")))
        elif kind == "runner_on_start" and created is not None:
            started[key] = (created, data)
        elif kind in RESULTS:
            started.pop(key, None)
            if kind == "runner_on_skipped":
                skipped += 1
                continue
            bar = _result_bar(source, kind, data, created)
            if bar is not None:
                bars.append(bar)
    # Tasks the run never saw end (interrupted, killed): drawn up to the last event of their process.
    for (source, task_uuid, host), (start, data) in started.items():
        bars.append(Bar(source, task_uuid, host, start, max(start, last_seen.get(source, start)),
                        str(data.get("play") or ""), str(data.get("role") or ""), str(data.get("task") or ""),
                        "unfinished", "no result: the run stopped during this task"))
    bars.sort(key=lambda bar: (bar.start, bar.end))
    times = [t for bar in bars for t in (bar.start, bar.end)] + [t for t, _ in plays]
    start, end = (min(times), max(times)) if times else (0.0, 0.0)
    hosts = sorted({bar.host for bar in bars}, key=natural_key)
    return Timeline(name, start, end, hosts, bars, skipped, _distinct_plays(plays), slowest_tasks(bars))


def _distinct_plays(plays: list[tuple[float, str]]) -> list[tuple[float, str]]:
    """The shards of one step each start the same play at about the same time: listed once."""
    listed: list[tuple[float, str]] = []
    for at, play in sorted(plays):
        if not listed or listed[-1][1] != play:
            listed.append((at, play))
    return listed


def _result_bar(source: str, kind: str, data: dict, created: float | None) -> Bar | None:
    end = _seconds(data.get("end")) or created
    start = _seconds(data.get("start"))
    if start is None and end is not None:
        start = end - float(data.get("duration") or 0)
    if start is None or end is None:
        return None
    res = data.get("res") if isinstance(data.get("res"), dict) else {}
    status = RESULTS[kind]
    if status == "failed" and data.get("ignore_errors"):
        status = "ignored"
    elif status == "ok" and res.get("changed"):
        status = "changed"
    message = failure_message(res) if status in (*PROBLEMS, "ignored") else ""
    return Bar(source, str(data.get("task_uuid", "")), str(data.get("host", "")), start, max(start, end),
               str(data.get("play") or ""), str(data.get("role") or ""), str(data.get("task") or ""), status, message)


def failure_message(res: dict) -> str:
    """The result's msg only, never the whole result: it may hold what the task read or wrote. A no_log
    task's result is already replaced by Ansible's `censored` sentence, which is what shows then."""
    message = res.get("msg") or res.get("censored") or ""
    # A loop's failure says "One or more items failed": the first failed item's msg says which and why.
    items = res.get("results") if isinstance(res.get("results"), list) else []
    item = next((i for i in items if isinstance(i, dict) and i.get("failed") and i.get("msg")), None)
    if item is not None:
        message = f"{message}: {item['msg']}" if message else item["msg"]
    text = str(message).strip()
    return text if len(text) <= MESSAGE_CHARS else text[: MESSAGE_CHARS - 1] + "…"


def slowest_tasks(bars: list[Bar], count: int = SLOWEST_LISTED) -> list[TaskTotal]:
    """Per task (by name and role, over every host and process): the longest result and the sum of all."""
    hosts: dict[tuple[str, str], set[str]] = {}
    longest: dict[tuple[str, str], float] = {}
    total: dict[tuple[str, str], float] = {}
    for bar in bars:
        if bar.status == "unfinished":
            continue  # its length is where the run stopped, not the task's
        key = (bar.task, bar.role)
        hosts.setdefault(key, set()).add(bar.host)
        longest[key] = max(longest.get(key, 0.0), bar.seconds)
        total[key] = total.get(key, 0.0) + bar.seconds
    totals = [TaskTotal(task, role, len(hosts[(task, role)]), longest[(task, role)], total[(task, role)])
              for task, role in hosts]
    return sorted(totals, key=lambda t: (-t.longest, -t.total, t.task))[:count]


def natural_key(host: str) -> list:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", host)]


def host_blocks(hosts: list[str], rows: int = GROUPED_ROWS) -> list[list[str]]:
    """Hosts cut into about `rows` blocks of neighbours; a block never mixes name prefixes (cp, wk), so the
    control planes keep a row of their own."""
    size = max(1, math.ceil(len(hosts) / rows))
    by_prefix: dict[str, list[str]] = {}
    for host in hosts:
        by_prefix.setdefault(re.sub(r"\d+$", "", host), []).append(host)
    return [group[i:i + size] for group in by_prefix.values() for i in range(0, len(group), size)]


def role_classes(bars: list[Bar]) -> dict[str, str]:
    """A CSS class per role, in order of first appearance (a stable colour per role within a run)."""
    classes: dict[str, str] = {}
    for bar in bars:
        classes.setdefault(bar.role, f"r{len(classes) % len(PALETTE)}")
    return classes


def rows(timeline: Timeline, classes: dict[str, str], group_over: int = GROUP_OVER) -> list[Row]:
    if len(timeline.hosts) <= group_over:
        by_host: dict[str, list[Bar]] = {host: [] for host in timeline.hosts}
        for bar in timeline.bars:
            by_host[bar.host].append(bar)
        return [Row(host, [_host_mark(bar, classes) for bar in bars]) for host, bars in by_host.items()]
    blocks = host_blocks(timeline.hosts)
    block_of = {host: i for i, block in enumerate(blocks) for host in block}
    by_task: list[dict[tuple[str, str], list[Bar]]] = [{} for _ in blocks]
    for bar in timeline.bars:
        by_task[block_of[bar.host]].setdefault((bar.source, bar.task_uuid), []).append(bar)
    return [Row(_block_label(block), sorted((_block_mark(bars, classes) for bars in tasks.values()),
                                           key=lambda m: m.start))
            for block, tasks in zip(blocks, by_task)]


def _block_label(block: list[str]) -> str:
    return block[0] if len(block) == 1 else f"{block[0]}–{block[-1]} ({len(block)})"


def _status_css(status: str, role_css: str) -> str:
    return {"failed": "bad", "unreachable": "bad", "ignored": "ign", "unfinished": "unf",
            "changed": f"{role_css} ch"}.get(status, role_css)


def _host_mark(bar: Bar, classes: dict[str, str]) -> Mark:
    title = f"{bar.task} ({bar.role or 'no role'}) on {bar.host}: {bar.status}, {duration(bar.seconds)}"
    if bar.message:
        title += f"\n{bar.message}"
    return Mark(bar.start, bar.end, _status_css(bar.status, classes[bar.role]), title, bar.task,
                bar.status in ("ok", "changed"))


def _block_mark(bars: list[Bar], classes: dict[str, str]) -> Mark:
    """One task on a block of hosts: from the first start to the last end, red if any host failed there."""
    first = bars[0]
    worst = next((s for s in (*PROBLEMS, "unfinished", "ignored", "changed") if any(b.status == s for b in bars)),
                 "ok")
    longest = max(bar.seconds for bar in bars)
    # No role here: the colour says it, and this title is repeated on every block's row.
    title = f"{first.task} on {len(bars)} hosts: longest {duration(longest)}"
    problems = [bar for bar in bars if bar.status in (*PROBLEMS, "unfinished", "ignored")]
    title += "".join(f"\n{bar.host} {bar.status}: {bar.message}" for bar in problems[:5])
    if len(problems) > 5:
        title += f"\nand {len(problems) - 5} more (see Failures)"
    return Mark(min(b.start for b in bars), max(b.end for b in bars), _status_css(worst, classes[first.role]),
                title, first.task, worst in ("ok", "changed"))


def merge_narrow(marks: list[Mark], seconds_per_unit: float) -> list[Mark]:
    """Successive ok/changed marks narrower than NARROW_UNITS, with no visible gap between them, drawn as
    one; failures are never merged."""
    narrow = NARROW_UNITS * seconds_per_unit
    merged: list[Mark] = []
    run: list[Mark] = []

    def flush() -> None:
        if len(run) == 1:
            merged.append(run[0])
        elif run:
            css = run[0].css.split()[0] if len({m.css.split()[0] for m in run}) == 1 else "mix"
            end = max(m.end for m in run)
            names = "\n".join(m.task for m in run[:3]) + (f"\nand {len(run) - 3} more" if len(run) > 3 else "")
            merged.append(Mark(run[0].start, end, css, f"{len(run)} short tasks in {duration(end - run[0].start)}:\n"
                                                       f"{names}"))
        run.clear()

    for mark in marks:
        fits = mark.mergeable and mark.end - mark.start < narrow
        if run and not (fits and mark.start - max(m.end for m in run) < seconds_per_unit):
            flush()
        if fits:
            run.append(mark)
        else:
            merged.append(mark)
    flush()
    return merged


def duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


def _clock(seconds: float) -> str:
    minutes, rest = divmod(int(round(seconds)), 60)
    return f"{minutes}:{rest:02d}"


def _tick_step(span: float) -> float:
    return next((s for s in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200) if span / s <= 10),
                math.ceil(span / 10 / 3600) * 3600)


CSS = """body{font:13px system-ui,sans-serif;margin:16px;color:#222}h1{font-size:18px}h2{font-size:15px;margin-top:20px}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px;text-align:left;vertical-align:top}
td.n{text-align:right}svg{width:100%;height:auto;font:11px system-ui,sans-serif}rect:hover{stroke:#000}
.ch{stroke:#333;stroke-width:.5}.bad{fill:#d62728}.ign{fill:#ff9d9a}.unf{fill:#bbb;stroke:#d62728;stroke-dasharray:2}
.mix{fill:#9aa}.grid{stroke:#ddd}.play{stroke:#888;stroke-dasharray:3 3}.band{fill:#f4f4f4}
.key{display:inline-block;width:10px;height:10px;margin:0 3px 0 10px}"""


def render(timeline: Timeline, group_over: int = GROUP_OVER) -> str:
    esc = html.escape
    classes = role_classes(timeline.bars)
    span = max(timeline.end - timeline.start, 1e-6)
    per_unit = span / CHART_WIDTH
    chart_rows = [Row(row.label, merge_narrow(row.marks, per_unit)) for row in rows(timeline, classes, group_over)]

    def x(t: float) -> float:
        return LABEL_WIDTH + (t - timeline.start) / per_unit

    height = AXIS_HEIGHT + ROW_HEIGHT * len(chart_rows) + 4
    svg = [f'<svg viewBox="0 0 {LABEL_WIDTH + CHART_WIDTH + 10} {height}" role="img">']
    step = _tick_step(span)
    for i in range(int(span // step) + 1):
        tx = x(timeline.start + i * step)
        svg.append(f'<line class="grid" x1="{tx:.1f}" x2="{tx:.1f}" y1="{AXIS_HEIGHT - 6}" y2="{height}"/>'
                   f'<text x="{tx:.1f}" y="{AXIS_HEIGHT - 9}" text-anchor="middle">{_clock(i * step)}</text>')
    for number, (at, play) in enumerate(timeline.plays, 1):
        px = x(at)
        svg.append(f'<g><title>play {number}: {esc(play)}</title><line class="play" x1="{px:.1f}" x2="{px:.1f}" '
                   f'y1="2" y2="{height}"/><text x="{px + 2:.1f}" y="10">{number}</text></g>')
    for index, row in enumerate(chart_rows):
        y = AXIS_HEIGHT + index * ROW_HEIGHT
        if index % 2:
            svg.append(f'<rect class="band" x="0" y="{y}" width="{LABEL_WIDTH + CHART_WIDTH}" height="{ROW_HEIGHT}"/>')
        svg.append(f'<text x="4" y="{y + BAR_HEIGHT}">{esc(row.label)}</text>')
        # Problems last, so that no neighbour is drawn over them.
        for mark in sorted(row.marks, key=lambda m: m.css in PROBLEM_CSS):
            width = max(mark.end - mark.start, 0.0) / per_unit
            width = max(width, PROBLEM_MIN_UNITS if mark.css in PROBLEM_CSS else 1.0)
            svg.append(f'<rect x="{x(mark.start):.1f}" y="{y + 2}" width="{width:.1f}" '
                       f'height="{BAR_HEIGHT}" class="{mark.css}"><title>{esc(mark.title)}</title></rect>')
    svg.append("</svg>")

    counts = {status: sum(1 for bar in timeline.bars if bar.status == status)
              for status in ("ok", "changed", "failed", "unreachable", "ignored", "unfinished")}
    started = datetime.datetime.fromtimestamp(timeline.start, datetime.timezone.utc)
    summary = (f"{started:%Y-%m-%d %H:%M:%S} UTC, {duration(timeline.end - timeline.start)}; "
               f"{len(timeline.hosts)} hosts; " + ", ".join(f"{n} {s}" for s, n in counts.items() if n or s == "ok")
               + f"; {timeline.skipped} skipped (not drawn)")
    grouped = (f" One row per block of hosts ({len(timeline.hosts)} hosts, more than {group_over}): a bar spans a "
               "task from its first host's start to its last host's end." if len(timeline.hosts) > group_over else "")
    legend = "".join(f'<span class="key" style="background:{PALETTE[int(css[1:])]}"></span>{esc(role or "no role")}'
                     for role, css in classes.items())
    legend += '<span class="key" style="background:#d62728"></span>failed or unreachable'
    statuses = {bar.status for bar in timeline.bars}
    legend += '<span class="key" style="background:#ff9d9a"></span>failed, ignored' if "ignored" in statuses else ""
    legend += '<span class="key" style="background:#bbb"></span>no result (the run stopped)' \
        if "unfinished" in statuses else ""
    out = [
        "<!DOCTYPE html>",
        f'<html lang="en"><head><meta charset="utf-8"><title>{esc(timeline.name)}: run timeline</title>',
        f"<style>{CSS}\n{''.join(f'.r{i}{{fill:{c}}}' for i, c in enumerate(PALETTE))}</style></head><body>",
        f"<h1>Run {esc(timeline.name)}</h1>",
        f"<p>{esc(summary)}. Hover a bar for its task, host and duration; narrow neighbours are drawn as one."
        f"{esc(grouped)}</p>",
        f"<p>{legend}</p>",
        "".join(svg),
        _plays_list(timeline),
        _failures_table(timeline),
        _slowest_table(timeline),
        "</body></html>",
    ]
    return "\n".join(out) + "\n"


def _plays_list(timeline: Timeline) -> str:
    esc = html.escape
    items = "".join(f"<li>{_clock(at - timeline.start)} {esc(play)}</li>" for at, play in timeline.plays)
    return f"<h2>Plays</h2><ol>{items}</ol>" if items else ""


def _failures_table(timeline: Timeline) -> str:
    esc = html.escape
    failures = timeline.failures
    if not failures:
        return "<h2>Failures</h2><p>none</p>"
    rows_html = "".join(f"<tr><td>{esc(b.host)}</td><td>{esc(b.status)}</td><td>{_clock(b.end - timeline.start)}</td>"
                        f"<td>{esc(b.task)}</td><td>{esc(b.role)}</td><td>{esc(b.message)}</td></tr>"
                        for b in failures)
    return ("<h2>Failures</h2><table><tr><th>host</th><th>status</th><th>at</th><th>task</th><th>role</th>"
            f"<th>message</th></tr>{rows_html}</table>")


def _slowest_table(timeline: Timeline) -> str:
    esc = html.escape
    rows_html = "".join(f"<tr><td>{esc(t.task)}</td><td>{esc(t.role)}</td><td class=n>{t.hosts}</td>"
                        f"<td class=n>{duration(t.longest)}</td><td class=n>{duration(t.total)}</td></tr>"
                        for t in timeline.slowest)
    return ("<h2>Slowest tasks</h2><table><tr><th>task</th><th>role</th><th>hosts</th><th>longest</th>"
            f"<th>total</th></tr>{rows_html}</table>")


def write(run_dir: Path) -> Path | None:
    """timeline.html in the run's folder; None when no task reported a result there (nothing to draw)."""
    timeline = build(read_events(run_dir), run_dir.name)
    if not timeline.bars and not timeline.skipped:
        return None
    path = run_dir / FILE_NAME
    path.write_text(render(timeline), encoding="utf-8")
    return path


def find_run(name: str | None, artifacts_dir: Path, runs: list[Path]) -> Path:
    """The run folder `report` means: a path, a run's name under the artifacts folder, or the newest of `runs`."""
    if name is None:
        if not runs:
            raise UserError(f"no runs yet under {artifacts_dir}: each `python bootstrap.py` run makes one")
        return runs[-1]
    for candidate in (Path(name), artifacts_dir / name):
        if candidate.is_dir():
            return candidate
    newest = f"; the newest is {runs[-1].name}" if runs else ""
    raise UserError(f"report {name}: no such run: neither a folder nor a run under {artifacts_dir}{newest}")


def _seconds(stamp: object) -> float | None:
    if not isinstance(stamp, str) or not stamp:
        return None
    try:
        parsed = datetime.datetime.fromisoformat(stamp)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.timezone.utc)  # ansible-runner's times are UTC
    return parsed.timestamp()
