"""Order and checks of the upstream-only steps that no lab here can run against the real services (Docker's repo and
Calico's tigera operator are unreachable from this machine): read from the task files themselves.

What runs for real instead: the pkgs.k8s.io path in tests/test_sudo_lab.py (python3-debian installed first,
deb822 source, pin, hold, from the lab's signed HTTPS repo).
"""

import subprocess
import sys
from pathlib import Path

import yaml

ROLES = Path(__file__).resolve().parent.parent / "roles"


def tasks(path: str) -> list[dict]:
    return yaml.safe_load((ROLES / path).read_text())


def position(task_list: list[dict], predicate) -> int:
    return next(i for i, task in enumerate(task_list) if predicate(task))


def module_args(task: dict, module: str) -> dict | str | None:
    return task.get(f"ansible.builtin.{module}")


def test_python3_debian_is_installed_before_each_deb822_source():
    for path in ("container_runtime/tasks/upstream.yml", "kubernetes_packages/tasks/upstream.yml"):
        steps = tasks(path)
        installs = position(steps, lambda t: "python3-debian" in (module_args(t, "apt") or {}).get("name", []))
        source = position(steps, lambda t: module_args(t, "deb822_repository") is not None)
        assert installs < source, path


def test_docker_packages_are_pinned_and_held():
    defaults = yaml.safe_load((ROLES / "container_runtime/defaults/main.yml").read_text())
    assert defaults["container_runtime_upstream_versions"]["containerd.io"] == "2.*"  # one major: config version 3
    install = next(t for t in tasks("container_runtime/tasks/upstream.yml") if module_args(t, "apt")
                   and "docker" in t["name"].lower())
    assert install["ansible.builtin.apt"]["name"] == "{{ container_runtime_upstream_pinned }}"
    hold = next(t for t in tasks("container_runtime/tasks/main.yml") if module_args(t, "dpkg_selections"))
    assert hold["ansible.builtin.dpkg_selections"]["selection"] == "hold"
    assert hold["loop"] == "{{ container_runtime_upstream_versions.keys() }}"


def test_calico_operator_crds_are_applied_before_the_operator_and_the_installation():
    manifests = yaml.safe_load((ROLES / "calico/vars/main.yml").read_text())["calico_operator_manifests"]
    assert [m["url"] for m in manifests] == ["{{ calico_operator_crds_manifest_url }}",
                                             "{{ calico_operator_manifest_url }}"]
    steps = tasks("calico/tasks/apply.yml")
    commands = [" ".join(map(str, (module_args(t, "command") or {}).get("argv", []))) for t in steps]
    operators = next(i for i, c in enumerate(commands) if " apply " in c and "item.item" in c)
    established = next(i for i, c in enumerate(commands) if "condition=established" in c)
    installation = next(i for i, c in enumerate(commands) if " apply " in c and "calico-installation" in c)
    assert operators < established < installation
    # No kubernetes.core server-side apply: Ubuntu 22.04's python3-kubernetes (12.0.1) cannot do it.
    assert not any("kubernetes.core.k8s" in t for t in steps)


def test_no_kubernetes_core_server_side_apply_anywhere():
    """kubernetes.core's server-side apply needs the Python client >= 19.15.0; Ubuntu 22.04 ships 12.0.1.
    Measured against the lab cluster with kubernetes 12.0.1: client-side apply with wait, k8s_info and a
    SubjectAccessReview work (with a warning), server-side apply fails. Server-side applies go through kubectl."""
    project = ROLES.parent
    users = [str(p.relative_to(project)) for p in [*project.glob("roles/*/tasks/*.yml"), *project.glob("playbooks/**/*.yml")]
             if "server_side_apply" in p.read_text()]
    assert users == []


def test_a_sandbox_image_other_than_kubeadms_pause_is_refused(tmp_path):
    """The role's own assertion (roles/kubernetes_packages/tasks/pause.yml), run by Ansible on kubeadm 1.34's
    image list against containerd configs naming pause 3.10.1 (accepted) and 3.10 (refused)."""
    check = next(t for t in tasks("kubernetes_packages/tasks/pause.yml") if "ansible.builtin.assert" in t)
    plays = [{"hosts": "localhost", "gather_facts": False, "tasks": [
        {**check, "loop": ["3.10.1", "3.10"], "vars": {
            **check["vars"],
            "kubernetes_packages_version": "1.34.2",
            "kubernetes_packages_kubeadm_images": {"stdout": "registry.k8s.io/etcd:3.6.5-0\nregistry.k8s.io/pause:3.10.1\n"},
            "kubernetes_packages_containerd_config": {
                "content": "{{ ('version = 2\n  sandbox_image = \"cp01:5000/pause:' ~ item ~ '\"\n') | b64encode }}"}}}]}]
    (tmp_path / "check.yml").write_text(yaml.safe_dump(plays))
    run = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), str(tmp_path / "check.yml")],
                         capture_output=True, text=True, check=False)
    assert "ok: [localhost] => (item=3.10.1)" in run.stdout, run.stdout
    assert ("containerd's sandbox image is cp01:5000/pause:3.10, but kubeadm 1.34.2 expects pause:3.10.1"
            in run.stdout), run.stdout
