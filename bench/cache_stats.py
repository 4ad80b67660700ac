#!/usr/bin/env python3
"""Bytes the package cache fetched from upstream vs served, from apt-cacher-ng's own transfer log.

python bench/cache_stats.py [--lab sim] [--node cp01]

apt-cacher-ng writes one line per transfer: `time|I|bytes|client|path` for bytes it fetched from
upstream and `time|O|bytes|client|path` for bytes it sent to a client. Package files (.deb) never
change, so each should come from upstream once however many nodes install it; index files
(InRelease, Packages) are revalidated on each client's `apt-get update` and are reported apart.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections import Counter
from dataclasses import asdict, dataclass

LOG = "/var/log/apt-cacher-ng/apt-cacher.log"


@dataclass(frozen=True)
class CacheStats:
    upstream_bytes: int
    served_bytes: int
    upstream_deb_bytes: int
    served_deb_bytes: int
    debs_fetched: int
    debs_fetched_twice_or_more: int
    debs_served: int
    clients: int


def parse(log_text: str) -> CacheStats:
    totals: Counter[str] = Counter()
    fetches: Counter[str] = Counter()
    served: Counter[str] = Counter()
    clients: set[str] = set()
    for line in log_text.splitlines():
        fields = line.split("|")
        if len(fields) < 5 or fields[1] not in ("I", "O") or not fields[2].isdigit():
            continue
        _, direction, size, client, path = fields[:5]
        deb = path.endswith(".deb")
        totals[direction] += int(size)
        if deb:
            totals[direction + "deb"] += int(size)
            (fetches if direction == "I" else served)[path] += 1
        if direction == "O":
            clients.add(client)
    return CacheStats(
        upstream_bytes=totals["I"], served_bytes=totals["O"],
        upstream_deb_bytes=totals["Ideb"], served_deb_bytes=totals["Odeb"],
        debs_fetched=len(fetches), debs_fetched_twice_or_more=sum(1 for n in fetches.values() if n > 1),
        debs_served=sum(served.values()), clients=len(clients))


def read_log(container: str) -> str:
    return subprocess.run(["docker", "exec", container, "cat", LOG], capture_output=True, text=True,
                          check=True).stdout


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lab", default="sim", help="lab name (containers are <lab>-<node>)")
    parser.add_argument("--node", default="cp01", help="the node that runs the cache")
    args = parser.parse_args(argv)
    stats = parse(read_log(f"{args.lab}-{args.node}"))
    print(json.dumps(asdict(stats), indent=2))
    mib = 1024 * 1024
    print(f"from upstream {stats.upstream_bytes / mib:.1f} MiB (.deb {stats.upstream_deb_bytes / mib:.1f} MiB, "
          f"{stats.debs_fetched} packages, {stats.debs_fetched_twice_or_more} fetched more than once); "
          f"served {stats.served_bytes / mib:.1f} MiB (.deb {stats.served_deb_bytes / mib:.1f} MiB, "
          f"{stats.debs_served} package downloads) to {stats.clients} clients")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
