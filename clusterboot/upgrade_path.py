"""Whether `upgrade` may take the cluster to the inventory's version: kubeadm upgrades one minor at a time and
never down (the version skew policy), so a jump or a downgrade is refused before anything changes.

The cluster's versions are read from its API through the admin kubeconfig the control_plane role fetched:
the API server's own and every node's kubelet, so a half-done upgrade (some nodes on the new version) counts
as what it is.
"""

from __future__ import annotations

import base64
import json
import os
import ssl
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

import yaml

from clusterboot.errors import UserError

Version = tuple[int, int, int]


def parse(version: str) -> Version:
    """v1.36.5, 1.36.5 or v1.36.5+build to (1, 36, 5)."""
    core = version.removeprefix("v").split("-")[0].split("+")[0]
    major, minor, patch = core.split(".")
    return int(major), int(minor), int(patch)


def text(version: Version) -> str:
    return ".".join(map(str, version))


def refusal(running: list[str], target: str) -> str | None:
    """Why kubeadm would refuse to take a cluster running these versions to target; None when it may."""
    versions = sorted(parse(v) for v in running)
    oldest, newest, wanted = versions[0], versions[-1], parse(target)
    if wanted < newest:
        return (f"cluster_kubernetes_version {target} is older than {text(newest)}, which the cluster already "
                f"runs: kubeadm does not downgrade; set it to {text(newest)} or later")
    if wanted[0] != oldest[0] or wanted[1] > oldest[1] + 1:
        path = [text(oldest)] + [f"{oldest[0]}.{minor}" for minor in range(oldest[1] + 1, wanted[1])] + [target]
        return (f"cluster_kubernetes_version {target} is more than one minor past {text(oldest)}, which the cluster "
                f"runs: kubeadm upgrades one minor at a time; go {' → '.join(path)}, setting "
                "cluster_kubernetes_version to each (its newest patch) and running upgrade after each")
    return None


# The version skew policy (kubernetes.io/releases/version-skew-policy): the API servers of an HA cluster within
# one minor of each other; a kubelet never newer than the oldest API server, nor more than three minors older.
APISERVER_MINORS_APART = 1
KUBELET_MINORS_BEHIND = 3


def skew_problems(apiservers: dict[str, str], kubelets: dict[str, str]) -> list[str]:
    """What the skew policy forbids among these versions (API servers and kubelets by node), each naming the
    node and what to do; empty when every component may talk to every other."""
    if not apiservers:
        return ["no API server version found (no kube-apiserver pod in kube-system)"]
    minors = {node: parse(version)[:2] for node, version in apiservers.items()}
    oldest_node = min(minors, key=lambda node: minors[node])
    oldest, newest = minors[oldest_node], max(minors.values())
    problems = []
    if newest[0] != oldest[0] or newest[1] - oldest[1] > APISERVER_MINORS_APART:
        problems.append(f"API servers are more than {APISERVER_MINORS_APART} minor apart: "
                        + ", ".join(f"{node} {apiservers[node]}" for node in sorted(apiservers))
                        + "; finish the upgrade (python bootstrap.py upgrade)")
    for node, version in sorted(kubelets.items()):
        kubelet = parse(version)[:2]
        if kubelet > oldest:
            problems.append(f"{node}: kubelet {version} is newer than the API server on {oldest_node} "
                            f"({apiservers[oldest_node]}); upgrade the control planes first")
        elif kubelet[0] != oldest[0] or oldest[1] - kubelet[1] > KUBELET_MINORS_BEHIND:
            problems.append(f"{node}: kubelet {version} is more than {KUBELET_MINORS_BEHIND} minors behind the "
                            f"API server on {oldest_node} ({apiservers[oldest_node]}); upgrade it")
    return problems


def running_versions(kubeconfig: Path) -> list[str]:
    """The API server's version and each node's kubelet version, read with the admin kubeconfig."""
    if not kubeconfig.is_file():
        raise UserError(f"upgrade: no admin kubeconfig at {kubeconfig}; it is fetched when the cluster is formed "
                        "(python bootstrap.py --inventory NAME --phase kubernetes)")
    config = yaml.safe_load(kubeconfig.read_text())
    context = next(c["context"] for c in config["contexts"] if c["name"] == config["current-context"])
    cluster = next(c["cluster"] for c in config["clusters"] if c["name"] == context["cluster"])
    user = next(u["user"] for u in config["users"] if u["name"] == context["user"])
    tls = ssl.create_default_context(cadata=base64.b64decode(cluster["certificate-authority-data"]).decode())
    with tempfile.TemporaryDirectory() as folder:  # ssl loads a client key only from a file: 0600, then gone
        pem = Path(folder, "client.pem")
        pem.touch(mode=0o600)
        pem.write_bytes(base64.b64decode(user["client-certificate-data"]) + b"\n"
                        + base64.b64decode(user["client-key-data"]))
        tls.load_cert_chain(str(pem))
        os.unlink(pem)
        server = cluster["server"].rstrip("/")
        api = _get(f"{server}/version", tls)["gitVersion"]
        nodes = _get(f"{server}/api/v1/nodes", tls)["items"]
    return [api] + [n["status"]["nodeInfo"]["kubeletVersion"] for n in nodes]


def _get(url: str, tls: ssl.SSLContext) -> dict:
    try:
        with urllib.request.urlopen(url, context=tls, timeout=30) as response:
            return json.load(response)
    except (urllib.error.URLError, OSError) as err:
        raise UserError(f"upgrade: cannot read the cluster's versions at {url} ({err}); is the API up?") from None


def check(kubeconfig: Path, target: str) -> None:
    """Refuse (UserError, exit 2) an upgrade kubeadm would refuse, naming the path it allows."""
    reason = refusal(running_versions(kubeconfig), target)
    if reason:
        raise UserError(f"upgrade: {reason}; nothing was changed")
