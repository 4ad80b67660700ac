"""Sharded runs: the selected plays as steps, each step one ansible-playbook, or one per shard of hosts.

Ansible's main process is single-threaded: one process per shard uses every controller core. A play may be
sharded only when its playbook declares it (`vars: {shardable_play: true}`): each host's tasks then depend on
that host and on earlier plays only. `hazards` finds what would break that (a task run once for every host,
a task delegated to another host, one host serving the others, a play that stops everyone on one failure);
tests/test_shards.py checks every declared play against it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from clusterboot.playbook_map import PlayInfo
from clusterboot.progress import HostResult, RunState

# A run_once task of these modules only computes or says something: its result is the same in every shard.
HARMLESS_ONCE = {"set_fact", "debug", "meta"}
# A plain host or group name, as a --limit item the runner can resolve itself.
PLAIN_NAME = re.compile(r"[A-Za-z0-9_.\-]+")


@dataclass(frozen=True)
class Step:
    """Consecutive plays run by one ansible-playbook (shards empty), or one per shard of hosts."""

    plays: tuple[PlayInfo, ...]
    shards: tuple[tuple[str, ...], ...] = ()
    role_tags: tuple[str, ...] = ()  # when the operator chose one role: its tag, not every role of its plays

    @property
    def tags(self) -> list[str]:
        return list(self.role_tags) or [role for play in self.plays for role in play.roles]

    def playbook(self, folder: Path, roles_dir: Path) -> Path | None:
        """The playbook the step's processes run: a file of the step's own plays, written in `folder`, when they
        allow it. In the source file each process would also validate the arguments of every deselected
        play's roles per host and rerun the inventory checks (both tagged `always`), once more per process.
        Plays that read playbook_dir, or name files beside the playbook, keep their source file (or None: the
        caller's site playbook, when they span several files)."""
        if not any(_needs_playbooks_folder(play, roles_dir) for play in self.plays):
            path = folder / "plays.yml"
            path.write_text(yaml.safe_dump([play.raw for play in self.plays], sort_keys=False))
            return path
        files = {play.source for play in self.plays}
        return files.pop() if len(files) == 1 else None


def _needs_playbooks_folder(play: PlayInfo, roles_dir: Path) -> bool:
    """Whether the play reads playbook_dir or a file relative to its playbook, itself or through its roles."""
    if "playbook_dir" in str(play.raw) or re.search(r"\b(import|include)_(tasks|vars)\b", str(play.raw)):
        return True
    seen: set[str] = set()
    pending = list(play.roles)
    while pending:
        role = pending.pop()
        if role in seen or not (roles_dir / role).is_dir():
            continue
        seen.add(role)
        for path in (roles_dir / role).rglob("*.yml"):
            text = path.read_text()
            if "playbook_dir" in text:
                return True
            if path.parts[-2:] == ("meta", "main.yml"):
                for dependency in (yaml.safe_load(text) or {}).get("dependencies", []) or []:
                    pending.append(dependency["role"] if isinstance(dependency, dict) else dependency)
            if path.parent.name == "tasks":
                pending += re.findall(r"include_role:\s*\n\s*name:\s*(\S+)", text)
    return False


def split(hosts: list[str], shards: int) -> list[list[str]]:
    """Hosts in inventory order as up to `shards` contiguous, nearly equal parts (no empty part)."""
    count = max(1, min(shards, len(hosts)))
    size, extra = divmod(len(hosts), count)
    parts, start = [], 0
    for index in range(count):
        end = start + size + (1 if index < extra else 0)
        parts.append(hosts[start:end])
        start = end
    return [part for part in parts if part]


def limit_hosts(limit: str | None, hostvars: dict, groups: dict[str, list[str]]) -> set[str] | None:
    """The hosts a --limit of plain names or @file selects; None when it is a pattern only Ansible reads
    (wildcards, `!`, `&`): such a run is not sharded."""
    if not limit:
        return set(hostvars)
    chosen: set[str] = set()
    for item in (part.strip() for part in limit.split(",")):
        if not item:
            continue
        if item.startswith("@"):
            if not Path(item[1:]).is_file():
                return None  # Ansible says what is wrong with it
            names = [line.strip() for line in Path(item[1:]).read_text().splitlines() if line.strip()]
        else:
            names = [item]
        for name in names:
            if not PLAIN_NAME.fullmatch(name):
                return None
            if name in groups:
                chosen.update(groups[name])
            elif name in hostvars:
                chosen.add(name)
            else:
                return None
    return chosen


def plan(selected: list[PlayInfo], groups: dict[str, list[str]], shards: int,
         limited_to: set[str]) -> list[Step]:
    """Consecutive sharded plays on the same hosts make one sharded step; everything else, one plain step."""
    steps: list[Step] = []
    for play in selected:
        hosts = [h for h in groups.get(play.hosts, []) if h in limited_to] if play.shardable else []
        parts = tuple(tuple(p) for p in split(hosts, shards)) if play.shardable and shards > 1 else ()
        parts = parts if len(parts) > 1 else ()
        last = steps[-1] if steps else None
        if last is not None and bool(last.shards) == bool(parts) and (not parts or last.shards == parts):
            steps[-1] = Step(last.plays + (play,), last.shards)
        else:
            steps.append(Step((play,), parts))
    return steps


def install_batch(batch: int, shards: int) -> int:
    """A play's `throttle` holds per process: split the inventory's batch between the shards, so no more
    nodes install at once than one process would let (0 means all at once, and stays 0)."""
    return batch if batch <= 0 or shards <= 1 else max(1, math.floor(batch / shards))


def merge(states: list[RunState]) -> RunState:
    """One run's state from the states of its ansible-playbook processes (steps in order, shards of a step)."""
    merged = RunState(started=min((s.started for s in states), default=RunState().started))
    for state in states:
        for name, result in state.hosts.items():
            total = merged.host(name)
            for key in ("ok", "changed", "failed", "unreachable", "skipped"):
                setattr(total, key, getattr(total, key) + getattr(result, key))
            if result.failed or result.unreachable:
                total.failed_task, total.message = result.failed_task, result.message
        for play in state.plays:
            if play not in merged.plays:
                merged.plays.append(play)
        for note, hosts in state.notes.items():
            merged.notes.setdefault(note, [])
            merged.notes[note] += [h for h in hosts if h not in merged.notes[note]]
        if state.play:
            merged.play, merged.task = state.play, state.task
    return merged


def merged_rc(rcs: list[int]) -> int:
    """The first failure's exit status, as one ansible-playbook reports its first failure's."""
    return next((rc for rc in rcs if rc != 0), 0)


def hazards(play: PlayInfo, roles_dir: Path) -> list[str]:
    """Reasons the play's tasks need every host in one process (empty: the play can be sharded)."""
    found = []
    if play.any_errors_fatal:
        found.append(f"play {play.name!r}: any_errors_fatal stops every host on one failure")
    if not PLAIN_NAME.fullmatch(play.hosts):
        found.append(f"play {play.name!r}: hosts {play.hosts!r} is not a plain group")
    seen: set[str] = set()
    for role in play.roles:
        found += _role_hazards(role, roles_dir, seen)
    return found


def _role_hazards(role: str, roles_dir: Path, seen: set[str]) -> list[str]:
    if not role or role in seen or not (roles_dir / role).is_dir():
        return []
    seen.add(role)
    found = []
    meta = roles_dir / role / "meta" / "main.yml"
    for dependency in (yaml.safe_load(meta.read_text()) or {}).get("dependencies", []) if meta.exists() else []:
        found += _role_hazards(dependency["role"] if isinstance(dependency, dict) else dependency, roles_dir, seen)
    for path in sorted((roles_dir / role / "tasks").glob("*.yml")):
        for task in _tasks(yaml.safe_load(path.read_text()) or []):
            where = f"{role}/tasks/{path.name}: {task.get('name', '?')!r}"
            module = next((k.rsplit(".", 1)[-1] for k in task if k.startswith(("ansible.builtin.", "ansible."))), "")
            if "delegate_to" in task:
                found.append(f"{where} is delegated to another host")
            if task.get("run_once") and module not in HARMLESS_ONCE:
                found.append(f"{where} runs once for every host")
            if "inventory_hostname ==" in str(task.get("when", "")):
                found.append(f"{where} runs on one host that the others may need")
            if module == "include_role":
                include = task.get("ansible.builtin.include_role") or {}
                found += _role_hazards(include.get("name", ""), roles_dir, seen)
    return found


def _tasks(tasks: list) -> list[dict]:
    """Every task, blocks flattened."""
    flat = []
    for task in tasks if isinstance(tasks, list) else []:
        if not isinstance(task, dict):
            continue
        flat.append(task)
        for key in ("block", "rescue", "always"):
            flat += _tasks(task.get(key, []))
    return flat
