"""What a formed lab costs this machine when it does nothing: CPU by process name and by node container.

    python bootstrap.py lab up --nodes 4 && python bootstrap.py --inventory sim
    python bench/idle_cpu.py --seconds 120

Reads every process's CPU time from /proc twice (this machine sees the node containers' processes) and prints
the share of one core each process name and each container used in between. A process's children that ended
and were reaped count for the parent (cutime/cstime): an exec probe's short-lived processes show up under the
containerd-shim that started them. The levers (probe kinds, periods, lab-only settings) are compared by
running it once with each, on the same lab.
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import subprocess
import time
from pathlib import Path

# A Docker container's cgroup path ends in its 64-hex id (cgroup v1 and v2 alike).
CONTAINER_ID = re.compile(r"[0-9a-f]{64}")


def cpu_ticks() -> dict[int, tuple[str, str, int]]:
    """{pid: (name, container id or '', utime+stime+cutime+cstime in clock ticks)}."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cgroup = (entry / "cgroup").read_text()
        except OSError:  # ended while read
            continue
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        container = CONTAINER_ID.search(cgroup)
        found[int(entry.name)] = (name, container.group(0)[:12] if container else "",
                                  sum(int(f) for f in fields[11:15]))
    return found


def container_names() -> dict[str, str]:
    out = subprocess.run(["docker", "ps", "--format", "{{.ID}} {{.Names}}"], capture_output=True, text=True,
                         check=False).stdout
    return dict(line.split(maxsplit=1) for line in out.splitlines() if line.strip())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60, help="how long to measure (default 60)")
    parser.add_argument("--top", type=int, default=15, help="process names to list (default 15)")
    args = parser.parse_args(argv)
    names = container_names()
    before, started = cpu_ticks(), time.monotonic()
    time.sleep(args.seconds)
    after, elapsed = cpu_ticks(), time.monotonic() - started
    per_core = 100 / os.sysconf("SC_CLK_TCK") / elapsed
    by_name: collections.Counter[str] = collections.Counter()
    by_container: collections.Counter[str] = collections.Counter()
    for pid, (name, container, ticks) in after.items():
        used = ticks - (before[pid][2] if pid in before else 0)
        by_name[name] += used
        by_container[names.get(container, "this machine") if container else "this machine"] += used
    print(f"idle CPU: {sum(by_name.values()) * per_core:.0f}% of one core over {elapsed:.0f} s "
          f"({os.cpu_count()} cores)")
    for name, used in by_name.most_common(args.top):
        print(f"{used * per_core:6.1f}%  {name}")
    print("by container:")
    for name, used in by_container.most_common():
        print(f"{used * per_core:6.1f}%  {name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
