"""Names a user types on the command line (hosts in --limit, roles, phases, jobs), checked before anything runs.

A typo is refused with exit 2, the unknown name and the closest valid ones, instead of reaching Ansible and
reading like a failed cluster run.
"""

from __future__ import annotations

import difflib
import fnmatch
import re
from pathlib import Path

from clusterboot.errors import UserError

# Ansible's implicit groups: valid in a limit whatever the inventory holds.
IMPLICIT_GROUPS = ("all", "ungrouped")
# group[0], group[1:3], group[-1]: Ansible's subscript of a group's hosts.
SUBSCRIPT = re.compile(r"^(?P<name>.+)\[-?\d*(?::-?\d*)?\]$")


def did_you_mean(name: str, choices: list[str]) -> str:
    """' (did you mean a or b?)' for the closest choices, or '' when none is close."""
    close = difflib.get_close_matches(name, choices, n=3, cutoff=0.6)
    return f" (did you mean {' or '.join(close)}?)" if close else ""


def unknown(kind: str, name: str, choices: list[str], where: str) -> UserError:
    return UserError(f"unknown {kind} {name!r}{did_you_mean(name, choices)}; {where}: {', '.join(choices)}")


def check_limit(limit: str | None, hostvars: dict, groups: dict[str, list[str]], inventory: Path) -> None:
    """Refuse a --limit that names a host or group the inventory lacks, or that selects no host at all."""
    if not limit:
        return
    hosts = list(hostvars)
    names = hosts + [g for g in groups if g not in hosts] + [g for g in IMPLICIT_GROUPS if g not in groups]
    selected: set[str] = set()
    required: list[set[str]] = []
    excluded: set[str] = set()
    for pattern in _patterns(limit):  # as Ansible combines them: the union, then each &, then minus each !
        matched = _matches(pattern.lstrip("!&"), hosts, names, groups, inventory)
        if pattern.startswith("!"):
            excluded |= matched
        elif pattern.startswith("&"):
            required.append(matched)
        else:
            selected |= matched
    for hosts_of in required:
        selected &= hosts_of
    if not selected - excluded:
        raise UserError(f"--limit {limit} selects no host of inventory {inventory}; its hosts: "
                        f"{_first(hosts)}; its groups: {', '.join(g for g in groups if g not in IMPLICIT_GROUPS)}")


def _patterns(limit: str) -> list[str]:
    """Ansible's separators: commas, or colons outside a subscript's brackets."""
    parts = []
    for part in (p.strip() for p in limit.split(",")):
        if part.startswith(("@", "~")) or "[" in part:
            parts.append(part)
        else:
            parts += [p for p in part.split(":")]
    return [p for p in parts if p]


def _matches(pattern: str, hosts: list[str], names: list[str], groups: dict[str, list[str]],
             inventory: Path) -> set[str]:
    if pattern.startswith("@"):
        file = Path(pattern[1:])
        if not file.is_file():
            raise UserError(f"--limit {pattern}: no file {file} (a retry file lists one host per line)")
        return set().union(*(_matches(line.strip(), hosts, names, groups, inventory)
                             for line in file.read_text().splitlines() if line.strip()))
    if pattern.startswith("~"):
        try:
            regex = re.compile(pattern[1:])
        except re.error as error:
            raise UserError(f"--limit {pattern}: not a regular expression ({error})") from error
        found = [n for n in names if regex.search(n)]
    elif any(c in pattern for c in "*?") or SUBSCRIPT.match(pattern):
        subscript = SUBSCRIPT.match(pattern)
        base = subscript.group("name") if subscript else pattern
        found = [n for n in names if fnmatch.fnmatchcase(n, base)]
    elif pattern in names:
        found = [pattern]
    else:
        raise UserError(f"--limit: inventory {inventory} has no host or group {pattern!r}"
                        f"{did_you_mean(pattern, names)}; its hosts: {_first(hosts)}")
    if not found:
        raise UserError(f"--limit: {pattern!r} matches no host or group of inventory {inventory}; "
                        f"its hosts: {_first(hosts)}")
    return {h for n in found for h in (groups.get(n) or (hosts if n == "all" else [n] if n in hosts else []))}


def _first(names: list[str], count: int = 8) -> str:
    return ", ".join(names[:count]) + (f" … ({len(names)} in all)" if len(names) > count else "")
