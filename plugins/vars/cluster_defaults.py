"""Ansible's host_group_vars, with the declared defaults of the inventory-wide settings beneath group `all`.

The declaration is the preflight role's `inventory` entry point (roles/preflight/meta/argument_specs.yml):
name, type, default and description of every cluster_* and spark_submit_* setting, the one place a default
is written. For the group `all` of an inventory this plugin returns those defaults overlaid with the
inventory's own group_vars/all files, so the inventory's value always wins and every play and role sees the
rest; roles read `cluster_kubernetes_version` without a `| default(...)` copy of their own, and the Python
runner reads the same file (clusterboot/settings.py). ansible.cfg enables it in host_group_vars' place.

Ansible's precedence is unchanged: like group_vars/all.yml, a default here overrides a setting given in
hosts.yml's group `vars:` (set cluster_* settings in group_vars/ or host_vars/ files, as the layout says).
"""

from __future__ import annotations

import copy
import functools
import os
from pathlib import Path
from typing import Any

import yaml
from ansible.inventory.group import Group
from ansible.plugins.vars.host_group_vars import VarsModule as HostGroupVars
from ansible.template import trust_as_template

DOCUMENTATION = """
    name: cluster_defaults
    short_description: host_group_vars, plus the declared defaults of the inventory-wide settings for group all
    description:
      - Loads group_vars/ and host_vars/ as ansible.builtin.host_group_vars does.
      - Beneath an inventory's group all, the defaults of the inventory entry point of
        roles/preflight/meta/argument_specs.yml.
    options:
      stage:
        ini:
          - key: stage
            section: vars_host_group_vars
        env:
          - name: ANSIBLE_VARS_PLUGIN_STAGE
    extends_documentation_fragment:
      - vars_plugin_staging
"""

SPEC_FILE = Path(__file__).resolve().parents[2] / "roles" / "preflight" / "meta" / "argument_specs.yml"


@functools.cache
def declared_defaults(spec_file: Path = SPEC_FILE) -> dict[str, Any]:
    """A default that is a template (cluster_registry_host's first control plane) is marked trusted, as values
    read from the project's own files are: ansible-core renders only trusted templates, and this file is ours."""
    options = yaml.safe_load(spec_file.read_text())["argument_specs"]["inventory"]["options"]
    return {name: trust_as_template(option["default"]) if _template(option["default"]) else option["default"]
            for name, option in options.items() if "default" in option}


def _template(value: Any) -> bool:
    return isinstance(value, str) and "{{" in value


# Asked for every task and host: realpath's lstat of each path component (1.3% of the main process's samples
# on a 50-host play of skipped tasks) for two folders that do not move during a run.
@functools.cache
def same_folder(path: str, other: str) -> bool:
    return os.path.realpath(path) == os.path.realpath(other)


class VarsModule(HostGroupVars):
    REQUIRES_ENABLED = True

    def get_vars(self, loader: Any, path: str, entities: Any, cache: bool = True) -> dict[str, Any]:
        found = super().get_vars(loader, path, entities, cache)
        entities = entities if isinstance(entities, list) else [entities]
        # Called for the inventory's folder and again for the playbook's: defaults only at the inventory's
        # level, or they would override its group_vars/all.yml.
        if same_folder(path, loader.get_basedir()) or not any(isinstance(e, Group) and e.name == "all" for e in entities):
            return found
        return {**copy.deepcopy(declared_defaults()), **found}  # copies: a role may change a list it was given
