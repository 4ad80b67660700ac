"""Load an inventory the way Ansible does and run every inventory-level check, contacting no node."""

from __future__ import annotations

from pathlib import Path

import yaml

from clusterboot import inventory_checks
from clusterboot.errors import UserError
from clusterboot.paths import INVENTORIES_DIR


def resolve(name_or_path: str) -> Path:
    """A name under inventory/ or a path; the folder must exist."""
    candidate = Path(name_or_path)
    path = candidate if candidate.exists() else INVENTORIES_DIR / name_or_path
    if not path.exists():
        known = sorted(p.name for p in INVENTORIES_DIR.iterdir() if p.is_dir())
        raise UserError(f"inventory {name_or_path!r} not found; known inventories: {', '.join(known) or 'none'}")
    return path.resolve()


def _check_yaml_syntax(path: Path) -> None:
    """Every YAML syntax error of the inventory's files at once, each as FILE:LINE:COLUMN."""
    files = [path] if path.is_file() else sorted([*path.rglob("*.yml"), *path.rglob("*.yaml")])
    problems = []
    for file in files:
        try:
            yaml.safe_load(file.read_text())
        except yaml.MarkedYAMLError as err:
            mark = err.problem_mark
            where = f"{file}:{mark.line + 1}:{mark.column + 1}" if mark else str(file)
            problems.append(f"{where}: YAML syntax error: {err.problem}")
        except yaml.YAMLError as err:
            problems.append(f"{file}: YAML error: {err}")
        except (OSError, UnicodeDecodeError) as err:
            problems.append(f"cannot read {file}: {getattr(err, 'strerror', None) or err}")
    if len(problems) == 1:
        raise UserError(problems[0])
    if problems:
        raise UserError(f"inventory {path.name} has {len(problems)} problem(s):\n  " + "\n  ".join(problems))


def load(path: Path) -> tuple[dict[str, dict], dict[str, list[str]]]:
    """(hostvars, groups) as Ansible sees them, variables not templated."""
    _check_yaml_syntax(path)
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader
    from ansible.vars.manager import VariableManager

    from ansible.errors import AnsibleError

    loader = DataLoader()
    try:
        manager = InventoryManager(loader=loader, sources=[str(path)])
        if not manager.hosts:
            raise UserError(f"inventory {path} has no hosts; see inventory/lab100/hosts.yml for the layout")
        variables = VariableManager(loader=loader, inventory=manager)
        hostvars = {h.name: dict(variables.get_vars(host=h, include_hostvars=False)) for h in manager.get_hosts()}
    except AnsibleError as err:
        # A file Ansible cannot read as inventory or variables (a list where a mapping belongs, a bad host range).
        message = " ".join(str(err).split())
        raise UserError(f"inventory {path}: Ansible cannot load it: {message}") from None
    groups = {name: [h.name for h in group.get_hosts()] for name, group in manager.groups.items()}
    return hostvars, groups


def is_external(hostvars: dict[str, dict]) -> bool:
    """A cluster clusterboot did not build: the inventory names its kubeconfig instead of its nodes."""
    return any("cluster_kubeconfig" in variables for variables in hostvars.values())


def external_errors(path: Path, hostvars: dict[str, dict], groups: dict[str, list[str]]) -> list[str]:
    """What playbooks/external.yml and submit need from a kubeconfig-only inventory."""
    errors = []
    builders = groups.get("spark_image_builder", [])
    if len(builders) != 1:
        errors.append(f"group spark_image_builder: has {len(builders)} hosts; put exactly one host with Docker "
                      "that can push to spark_image_registry in it (localhost with ansible_connection: local "
                      "for this machine)")
    if "localhost" not in hostvars:
        errors.append("host localhost: missing; the Spark phase talks to the API from this machine: add "
                      "localhost with ansible_connection: local")
    settings = hostvars.get("localhost", {})
    for key in ("cluster_name", "spark_image_registry"):
        if not settings.get(key):
            errors.append(f"{path}: {key} is not set (group_vars/all.yml); see README, 'a cluster we did not build'")
    kubeconfig = str(settings.get("cluster_kubeconfig", ""))
    if kubeconfig and "{{" not in kubeconfig and not Path(kubeconfig).expanduser().is_file():
        errors.append(f"{path}: cluster_kubeconfig {kubeconfig} is not a file; point it at the cluster's "
                      "kubeconfig (for EKS: aws eks update-kubeconfig --kubeconfig FILE)")
    if settings.get("cluster_spark_manager", "kubernetes") != "kubernetes":
        errors.append(f"{path}: cluster_spark_manager must be kubernetes for a cluster reached by its kubeconfig")
    clustered = sorted(set(groups.get("control_plane", [])) | set(groups.get("workers", [])))
    if clustered:
        errors.append(f"hosts {', '.join(clustered)}: a kubeconfig-only inventory has no control_plane or workers; "
                      "remove cluster_kubeconfig to build a cluster on them, or remove the groups")
    return errors


def check(path: Path) -> tuple[dict[str, dict], dict[str, list[str]]]:
    """Load and check: raise UserError listing every problem, else return (hostvars, groups)."""
    hostvars, groups = load(path)
    problems = (external_errors(path, hostvars, groups) if is_external(hostvars)
                else inventory_checks.cluster_inventory_errors(hostvars, groups))
    if problems:
        raise UserError(f"inventory {path.name} has {len(problems)} problem(s):\n  " + "\n  ".join(problems))
    return hostvars, groups
