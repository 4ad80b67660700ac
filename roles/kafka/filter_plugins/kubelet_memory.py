"""kubelet_memory_sum: a Kubernetes memory quantity plus JVM sizes, as one Kubernetes quantity, so a broker's
heap and page-cache reserve add to kubelet's systemReserved."""

from __future__ import annotations

import math
import re

# Kubernetes: binary Ki..Ei, decimal k..E, and m (milli, which kubelet accepts for memory too).
_KUBERNETES = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60, "k": 10**3,
               "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18, "m": 10**-3, "": 1}
# The JVM (-Xmx): k, m, g, t in either case are binary; an optional b after them (the jvm-size format allows it).
_JVM = {"k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40, "p": 2**50, "": 1}


def _parse(size: str, units: dict[str, float], what: str) -> float:
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*", str(size))
    unit = match.group(2) if match else ""
    if what == "JVM":
        unit = unit.lower().removesuffix("b") if unit.lower() != "b" else ""
    if not match or unit not in units:
        raise ValueError(f"{size!r} is not a {what} memory size")
    return float(match.group(1)) * units[unit]


def kubelet_memory_sum(quantity: str, jvm_sizes: list[str]) -> str:
    """quantity (Kubernetes) plus jvm_sizes (the JVM's), in whole MiB rounded up."""
    total = _parse(quantity, _KUBERNETES, "Kubernetes") + sum(_parse(s, _JVM, "JVM") for s in jvm_sizes)
    return f"{math.ceil(total / 2**20)}Mi"


class FilterModule:
    def filters(self) -> dict:
        return {"kubelet_memory_sum": kubelet_memory_sum}
