"""What site.yml holds: its roles and their phases (each role entry or include_role is tagged [role, phase])."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from clusterboot import usage
from clusterboot.errors import UserError


@dataclass(frozen=True)
class PlayInfo:
    name: str
    hosts: str
    phase: str
    roles: tuple[str, ...]
    source: Path  # the playbook file the play is written in
    # Declared in the play (vars: {shardable_play: true}): each host's tasks depend on that host and on earlier
    # plays only, so the runner may run the play as one ansible-playbook per shard of hosts.
    shardable: bool = False
    any_errors_fatal: bool = False
    raw: dict = field(default_factory=dict, compare=False, hash=False)  # the play as written


def read_plays(site: Path) -> list[PlayInfo]:
    """Every play in order, following import_playbook."""
    plays = []
    for play in yaml.safe_load(site.read_text()) or []:
        # Only the spellings the project's playbooks use (FQCN, and role entries as mappings with tags):
        # test_playbook_map reads every playbook, so a short `import_playbook` or a bare role name fails there.
        imported = play.get("ansible.builtin.import_playbook")
        if imported:
            plays += read_plays(site.parent / imported)
            continue
        entries = list(play.get("roles", []))
        entries += [_included_role(task) for task in play.get("tasks", []) if _included_role(task)]
        phase = next((e["tags"][1] for e in entries if len(e.get("tags", [])) > 1), "")
        plays.append(PlayInfo(name=play.get("name", ""), hosts=play["hosts"], phase=phase,
                              roles=tuple(e["role"] for e in entries), source=site,
                              shardable=bool((play.get("vars") or {}).get("shardable_play", False)),
                              any_errors_fatal=bool(play.get("any_errors_fatal", False)), raw=play))
    return plays


def _included_role(task: dict) -> dict | None:
    """An include_role task as a role entry ({role, tags}), or None for any other task."""
    include = task.get("ansible.builtin.include_role")
    return {"role": include["name"], "tags": task.get("tags", [])} if include else None


def phases(plays: list[PlayInfo]) -> list[str]:
    return list(dict.fromkeys(p.phase for p in plays if p.phase))


def roles(plays: list[PlayInfo]) -> list[str]:
    return [role for play in plays for role in play.roles]


def tags_for(plays: list[PlayInfo], role: str | None, phase: str | None) -> list[str]:
    """Ansible tags that select one role (on its play's hosts) or one phase."""
    if role is not None:
        if role not in roles(plays):
            raise usage.unknown("role", role, roles(plays), "--role takes a role of site.yml")
        return [role]
    if phase is not None:
        if phase not in phases(plays):
            raise usage.unknown("phase", phase, phases(plays), "--phase takes a phase of site.yml")
        return [phase]
    return []


def skip_tags_for(plays: list[PlayInfo], playbook: Path, role: str | None, roles_dir: Path) -> list[str]:
    """For --role: the other roles of its playbook file, so their argument validations (Ansible tags them
    `always`: 1-2 s per role on 100 nodes) are skipped too. A role with tasks of its own under `always`
    (preflight's inventory checks) is kept: every run is meant to start with them."""
    if role is None:
        return []
    others = dict.fromkeys(r for p in plays if p.source == playbook for r in p.roles if r != role)
    return [r for r in others if not _runs_always(roles_dir / r / "tasks" / "main.yml")]


def _runs_always(tasks_file: Path) -> bool:
    return any("always" in (task.get("tags") or []) for task in yaml.safe_load(tasks_file.read_text()) or [])


def playbook_for(plays: list[PlayInfo], site: Path, role: str | None, phase: str | None) -> Path:
    """The smallest playbook file that holds the selection, so no other file's plays are even visited.

    Deselected plays still cost a role-argument validation per host (Ansible tags it `always`); on 100
    nodes that is seconds. The inventory checks are not lost: the runner runs them before any playbook.
    """
    chosen = [p for p in plays if (role is not None and role in p.roles) or (phase is not None and p.phase == phase)]
    files = {p.source for p in chosen}
    return files.pop() if len(files) == 1 else site
