#!/usr/bin/env python3
"""Size and generation time of timeline.html: on a recorded run, and on a synthetic 100-host run.

PYTHONPATH=$PWD python bench/timeline_bench.py [--run .artifacts/RUN] [--hosts 100] [--tasks 280] [--json FILE]

The recorded run is copied to a temporary folder first (its own folder is left as it is). The synthetic run
is written as ansible-runner writes events (one JSON file per event, runner_on_start then the result for each
task-host, a verbose line per task), with lognormal task times, some skipped results, one failed and one
unreachable host. The time is that of `timeline.write`: reading every event file, building, rendering, writing.
"""

from __future__ import annotations

import argparse
import datetime
import json
import random
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

from clusterboot import timeline

ROLES = ("preflight", "base", "container_runtime", "registry", "kubernetes_packages", "control_plane", "join",
         "calico", "pyspark_wheel", "spark_image", "kafka")


def synthetic_run(folder: Path, hosts: int, tasks: int, seed: int = 44) -> int:
    """Write a run's job_events for `hosts` hosts (3 control planes, the rest workers) and `tasks` tasks each;
    return how many events."""
    rng = random.Random(seed)
    events_dir = folder / "artifacts" / "run" / "job_events"
    events_dir.mkdir(parents=True)
    names = ["cp01", "cp02", "cp03"] + [f"wk{i:03d}" for i in range(1, hosts - 2)]
    broken = {names[-1]: "failed", names[-2]: "unreachable"}
    clock = datetime.datetime(2026, 12, 7, 12, 0, tzinfo=datetime.timezone.utc)
    counter = 0

    def emit(kind: str, at: datetime.datetime, data: dict) -> None:
        nonlocal counter
        counter += 1
        event_uuid = str(uuid.UUID(int=rng.getrandbits(128)))
        (events_dir / f"{counter}-{event_uuid}.json").write_text(json.dumps(
            {"uuid": event_uuid, "counter": counter, "stdout": f"{kind}: [{data.get('host', '')}]",
             "runner_ident": "run", "event": kind, "created": at.isoformat(), "event_data": data}))

    emit("playbook_on_play_start", clock, {"name": "Every node", "play": "Every node"})
    alive = list(names)
    for number in range(tasks):
        role = ROLES[number * len(ROLES) // tasks]
        name = f"Install and configure what {role} needs, step {number}"  # the real run's: as long as the real run's
        task = {"play": "Every node", "role": role, "task": name,
                "task_uuid": str(uuid.UUID(int=number)), "task_action": "ansible.builtin.command"}
        emit("playbook_on_task_start", clock, {**task, "name": task["task"]})
        emit("verbose", clock, {})
        typical = rng.lognormvariate(-1.0, 1.2)
        ends = []
        for host in alive:
            start = clock + datetime.timedelta(seconds=rng.uniform(0, 0.3))
            end = start + datetime.timedelta(seconds=typical * rng.uniform(0.7, 1.5))
            ends.append(end)
            emit("runner_on_start", start, {**task, "host": host})
            kind, res = "runner_on_ok", {"changed": rng.random() < 0.3, "stdout": "x" * 200, "rc": 0}
            if rng.random() < 0.2:
                kind, res = "runner_on_skipped", {}
            if number == tasks // 2 and host in broken:
                kind = f"runner_on_{broken[host]}"
                res = {"msg": f"<synthetic> {broken[host]} on {host}: \"quoted\" & escaped", "changed": False}
            emit(kind, end, {**task, "host": host, "res": res, "start": start.isoformat(), "end": end.isoformat(),
                             "duration": (end - start).total_seconds()})
        if number == tasks // 2:
            alive = [h for h in alive if h not in broken]
        clock = max(ends) + datetime.timedelta(seconds=0.05)
    emit("playbook_on_stats", clock, {})
    return counter


def measure(run_dir: Path) -> dict:
    started = time.perf_counter()
    path = timeline.write(run_dir)
    seconds = time.perf_counter() - started
    assert path is not None, f"no events under {run_dir}"
    events = sum(1 for folder in run_dir.rglob("job_events") for _ in folder.glob("*.json"))
    return {"run": run_dir.name, "events": events, "bytes": path.stat().st_size, "seconds": round(seconds, 3)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, help="a recorded run's artifacts folder (copied first)")
    parser.add_argument("--hosts", type=int, default=100)
    parser.add_argument("--tasks", type=int, default=280, help="tasks per host (the 6-node formation: ~280)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    figures = []
    with tempfile.TemporaryDirectory(prefix="timeline-bench-") as scratch:
        if args.run:
            copy = Path(scratch) / args.run.resolve().name
            shutil.copytree(args.run, copy, ignore=shutil.ignore_patterns(timeline.FILE_NAME))
            figures.append(measure(copy))
        synthetic = Path(scratch) / f"synthetic-{args.hosts}-hosts"
        synthetic_run(synthetic, args.hosts, args.tasks)
        figures.append(measure(synthetic))
    for f in figures:
        print(f"{f['run']}: {f['events']} events -> timeline.html {f['bytes'] / 1024:.0f} KiB in {f['seconds']:.2f} s")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
