"""Day-2 operations: the playbooks/ of the same name through the runner, with a confirmation for the
destructive ones. The playbooks hold what each operation does; this module only says how to call them."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from dataclasses import dataclass

from clusterboot.errors import UserError


@dataclass(frozen=True)
class Operation:
    playbook: str  # under playbooks/
    help: str
    # What the prompt says the operation will do ({node}, {version}, {cluster} filled in); empty: no prompt.
    warning: str = ""


OPERATIONS = {
    "scale": Operation("scale.yml", "join the inventory's workers that are not in the cluster yet (add them to "
                                    "hosts.yml first); nodes already in it are only read"),
    "remove-node": Operation("remove-node.yml", "drain one worker and delete it from the cluster",
                             "drains {node} (its pods move to other workers) and deletes it from cluster {cluster}"),
    "upgrade": Operation("upgrade.yml", "upgrade Kubernetes to the inventory's cluster_kubernetes_version, the control "
                                        "plane first, then the workers in batches",
                         "upgrades Kubernetes on every node of cluster {cluster} to {version}, draining each worker "
                         "in turn"),
    "reset": Operation("reset.yml", "tear the cluster down to plain nodes (kubeadm reset on every node)",
                       "runs kubeadm reset on every node of cluster {cluster} and deletes the cluster"),
    "render": Operation("render.yml", "write every kubeadm config and manifest to .artifacts/rendered/<cluster>/ for "
                                      "review; no node is contacted"),
    "certs": Operation("certs.yml", "each control plane's kubeadm certificates and when they expire; --renew renews "
                                    "them one control plane at a time and fetches the new admin kubeconfig"),
    "backup": Operation("backup.yml", "an etcd snapshot of the cluster, checked by etcdutl and fetched to "
                                      ".artifacts/backups/<cluster>/ (0600) with its record; the oldest beyond "
                                      "control_plane_backup_keep are removed"),
    "restore": Operation("restore.yml", "replace etcd's data on every control plane with a snapshot of `backup` "
                                        "(asks first); everything stored since the snapshot is lost",
                         "stops the API servers and etcd on every control plane of cluster {cluster} and replaces "
                         "etcd's data with {snapshot} (taken {taken}): everything stored since then is lost"),
    "verify": Operation("verify.yml", "check the running cluster: every node Ready, Calico, CoreDNS, the Spark "
                                      "namespace and a pod from the Spark image"),
}


# What `certs --renew` asks before it renews anything.
RENEW_WARNING = ("renews every kubeadm certificate on each control plane of cluster {cluster}, one at a time, and "
                 "restarts its etcd, API server, controller manager and scheduler on them")


def extra_vars(command: str, groups: dict[str, list[str]], node: str | None,
               renew: bool = False, snapshot: str | None = None) -> dict[str, str]:
    """The variables the operation's playbook expects from its caller; refuses a node it would refuse."""
    if command == "restore":
        return {"control_plane_restore_snapshot": str(snapshot)}
    if command == "certs":
        return {"control_plane_certs_renew": "true" if renew else "false"}
    if command == "remove-node":
        workers = groups.get("workers", [])
        if node not in workers:
            raise UserError(f"remove-node: {node!r} is not a host of group workers in the inventory "
                            f"({', '.join(workers[:5])}{', ...' if len(workers) > 5 else ''}); control planes "
                            "are not removed this way")
        return {"node": node}
    if command == "reset":
        return {"reset_confirm": "yes"}  # asked here, before the run (ansible-runner has no terminal to prompt on)
    return {}


def confirm(warning: str, assume_yes: bool, ask: Callable[[str], str] = input,
            interactive: Callable[[], bool] = sys.stdin.isatty) -> None:
    """Go on only when the operator typed yes (or passed --yes); otherwise UserError, nothing changed."""
    if assume_yes:
        return
    if not interactive():
        raise UserError(f"this {warning}; no terminal to ask on: run it again with --yes to go on (nothing was "
                        "changed)")
    try:
        answer = ask(f"This {warning}. Type yes to go on: ")
    except EOFError:
        answer = ""
    if answer.strip() != "yes":
        raise UserError("not confirmed; nothing was changed")


def host_count(pattern: str, groups: dict[str, list[str]]) -> int:
    """How many hosts a play's `hosts:` names: a group, a host, or a group with an index or slice."""
    match = re.fullmatch(r"([\w-]+)(?:\[(-?\d*)(:?)(-?\d*)\])?", pattern)
    if not match:
        return 0  # a pattern decided at run time (a group made by add_host): the progress line counts as it goes
    name, start, colon, stop = match.groups()
    hosts = groups.get(name, [name] if any(name in members for members in groups.values()) else [])
    if start is None:
        return len(hosts)
    if not colon:
        return 1 if hosts else 0
    return len(hosts[int(start) if start else None:int(stop) if stop else None])
