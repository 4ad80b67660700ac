"""What site.yml holds: its roles and their phases (each role entry is tagged [role, phase])."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from clusterboot.errors import UserError


@dataclass(frozen=True)
class PlayInfo:
    name: str
    hosts: str
    phase: str
    roles: tuple[str, ...]


def read_plays(site: Path) -> list[PlayInfo]:
    """Every play in order, following import_playbook."""
    plays = []
    for play in yaml.safe_load(site.read_text()) or []:
        imported = play.get("ansible.builtin.import_playbook") or play.get("import_playbook")
        if imported:
            plays += read_plays(site.parent / imported)
            continue
        entries = [r if isinstance(r, dict) else {"role": r} for r in play.get("roles", [])]
        phase = next((e["tags"][1] for e in entries if len(e.get("tags", [])) > 1), "")
        plays.append(PlayInfo(name=play.get("name", ""), hosts=play["hosts"], phase=phase,
                              roles=tuple(e["role"] for e in entries)))
    return plays


def phases(plays: list[PlayInfo]) -> list[str]:
    return list(dict.fromkeys(p.phase for p in plays if p.phase))


def roles(plays: list[PlayInfo]) -> list[str]:
    return [role for play in plays for role in play.roles]


def tags_for(plays: list[PlayInfo], role: str | None, phase: str | None) -> list[str]:
    """Ansible tags that select one role (on its play's hosts) or one phase."""
    if role is not None:
        if role not in roles(plays):
            raise UserError(f"unknown role {role!r}; roles in site.yml: {', '.join(roles(plays))}")
        return [role]
    if phase is not None:
        if phase not in phases(plays):
            raise UserError(f"unknown phase {phase!r}; phases in site.yml: {', '.join(phases(plays))}")
        return [phase]
    return []
