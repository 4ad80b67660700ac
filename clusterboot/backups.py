"""The etcd snapshots of `backup` and the checks `restore` makes before it changes anything: the snapshot is
whole (its sha256), of this cluster (its name and its CA) and of no newer Kubernetes than the inventory's."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path

import yaml

from clusterboot.artifacts.images import sha256_file
from clusterboot.errors import UserError


def record_path(snapshot: Path) -> Path:
    """The record `backup` writes beside a snapshot: etcd-<time>.db → etcd-<time>.json."""
    return snapshot.with_suffix(".json")


def ca_fingerprint(pem: str) -> str:
    """A CA certificate's identity: the sha256 of its PEM body (roles/control_plane/vars/main.yml computes the
    same from the nodes' /etc/kubernetes/pki/ca.crt)."""
    return hashlib.sha256(re.sub(r"\s", "", re.sub(r"-----[A-Z ]+-----", "", pem)).encode()).hexdigest()


def kubeconfig_ca_fingerprint(kubeconfig: Path) -> str | None:
    """The fingerprint of the CA a kubeconfig trusts, or None when there is no kubeconfig (or no CA in it)."""
    if not kubeconfig.is_file():
        return None
    clusters = (yaml.safe_load(kubeconfig.read_text()) or {}).get("clusters") or []
    data = next((c.get("cluster", {}).get("certificate-authority-data") for c in clusters), None)
    return ca_fingerprint(base64.b64decode(data).decode()) if data else None


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def check(snapshot: Path, cluster_name: str, kubernetes_version: str, kubeconfig: Path) -> dict:
    """The snapshot's record when `restore` may put it back on this cluster; otherwise UserError naming why."""
    if not snapshot.is_file():
        raise UserError(f"restore: {snapshot} is not a file; the snapshots of `backup` are the etcd-*.db files "
                        f"of .artifacts/backups/{cluster_name}/")
    record_file = record_path(snapshot)
    if not record_file.is_file():
        raise UserError(f"restore: {snapshot} has no record beside it ({record_file.name}, written by `backup`); "
                        "without it nothing says which cluster and Kubernetes it came from, so it is not restored")
    record = json.loads(record_file.read_text())
    missing = [key for key in ("cluster", "sha256", "kubernetes_version", "ca_fingerprint") if key not in record]
    if missing:
        raise UserError(f"restore: {record_file} lacks {', '.join(missing)}: it is not a record of `backup`")
    if record["cluster"] != cluster_name:
        raise UserError(f"restore: {snapshot} is a snapshot of cluster {record['cluster']!r}, not of "
                        f"{cluster_name!r} (the inventory's cluster_name); nothing was changed")
    if _version(record["kubernetes_version"]) > _version(kubernetes_version):
        raise UserError(f"restore: {snapshot} was taken on Kubernetes {record['kubernetes_version']}, newer than "
                        f"this cluster's {kubernetes_version} (cluster_kubernetes_version): an older API server "
                        "cannot read what a newer one stored; upgrade first, then restore")
    ours = kubeconfig_ca_fingerprint(kubeconfig)
    if ours is not None and ours != record["ca_fingerprint"]:
        raise UserError(f"restore: {snapshot} was taken on a cluster with another CA than the one {kubeconfig} "
                        "trusts: it is a snapshot of another cluster of that name; nothing was changed")
    if sha256_file(snapshot) != record["sha256"]:
        raise UserError(f"restore: {snapshot} does not match the sha256 of its record ({record_file.name}): the "
                        "file was changed or cut short since `backup` took it; nothing was changed")
    return record


def newest(backup_dir: Path) -> Path | None:
    """The latest snapshot of a backup folder (names sort by the time they were taken)."""
    snapshots = sorted(backup_dir.glob("etcd-*.db"))
    return snapshots[-1] if snapshots else None
