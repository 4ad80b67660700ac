"""Settings as the roles declare them, for the Python side: never a second copy of a default.

Two homes, both under roles/: the inventory-wide cluster_* and spark_submit_* settings are declared once in
the preflight role's `inventory` entry point (roles/preflight/meta/argument_specs.yml; Ansible gets the same
defaults through plugins/vars/cluster_defaults.py), and a role's own settings in its defaults/main.yml.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import jinja2
import yaml

from clusterboot.paths import PLAYBOOKS_DIR, ROLES_DIR


def _yaml_file(path: Path) -> Any:
    return _parsed(path, path.stat().st_mtime_ns)


@functools.cache
def _parsed(path: Path, _mtime_ns: int) -> Any:
    """Parsed once per version of the file (the modification time is part of the key)."""
    return yaml.safe_load(path.read_text())


def declared_defaults(roles_dir: Path | None = None) -> dict[str, Any]:
    """Every default of the inventory-wide settings, by name."""
    spec = _yaml_file((roles_dir or ROLES_DIR) / "preflight" / "meta" / "argument_specs.yml")
    options = spec["argument_specs"]["inventory"]["options"]
    return {name: option["default"] for name, option in options.items() if "default" in option}


def with_defaults(variables: dict[str, Any], roles_dir: Path | None = None) -> dict[str, Any]:
    """A host's inventory variables over the declared defaults: what a role sees for each setting."""
    return {**declared_defaults(roles_dir), **variables}


def role_setting(role: str, name: str, variables: dict[str, Any], roles_dir: Path | None = None) -> Any:
    """The value a role uses for its setting `name`: the inventory's when it sets one, else the role's default,
    rendered like Ansible renders it (other role defaults, the declared defaults, `variables`, playbook_dir)."""
    if name in variables:
        return variables[name]
    defaults = _yaml_file((roles_dir or ROLES_DIR) / role / "defaults" / "main.yml") or {}
    if name not in defaults:
        raise KeyError(f"roles/{role}/defaults/main.yml declares no {name}")
    value = defaults[name]
    context = {**defaults, **with_defaults(variables, roles_dir), "playbook_dir": str(PLAYBOOKS_DIR)}
    environment = jinja2.Environment(undefined=jinja2.StrictUndefined)
    for _ in range(5):  # a default may name another templated default: render until none is left
        if not (isinstance(value, str) and "{{" in value):
            return value
        value = environment.from_string(value).render(context)
    raise ValueError(f"roles/{role}/defaults/main.yml: {name} still holds a template after 5 renderings")
