"""What `restore` checks before it changes anything (clusterboot/backups.py), with real files: the snapshot's
sha256, its cluster's name and CA, and its Kubernetes version against the inventory's. The restore itself runs
on the shared HA cluster (tests/test_cluster_ha.py)."""

import base64
import hashlib
import json
from pathlib import Path

import pytest
import yaml

from clusterboot import backups
from clusterboot.errors import UserError

CA = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIBADAK\nBggqhkjOPQQDAjAVMRMwEQYD\n-----END CERTIFICATE-----\n"
OTHER_CA = CA.replace("MIIBsz", "MIIBtz")


def kubeconfig(path: Path, pem: str) -> Path:
    path.write_text(yaml.safe_dump({"clusters": [{"name": "lab", "cluster": {
        "server": "https://10.20.0.10:6443", "certificate-authority-data": base64.b64encode(pem.encode()).decode()}}]}))
    return path


def snapshot(folder: Path, **record: object) -> Path:
    db = folder / "etcd-20261207T120000Z.db"
    db.write_bytes(b"an etcd snapshot")
    fields = {"cluster": "lab", "taken": "20261207T120000Z", "sha256": hashlib.sha256(db.read_bytes()).hexdigest(),
              "kubernetes_version": "1.36.5", "ca_fingerprint": backups.ca_fingerprint(CA), **record}
    backups.record_path(db).write_text(json.dumps(fields))
    return db


def test_the_fingerprint_ignores_line_breaks_and_is_the_nodes_expression():
    assert backups.ca_fingerprint(CA) == backups.ca_fingerprint(CA.replace("\n", "\r\n"))
    assert backups.ca_fingerprint(CA) != backups.ca_fingerprint(OTHER_CA)
    # roles/control_plane/vars/main.yml: strip the armour lines, then every blank, then sha256.
    body = "MIIBszCCAVmgAwIBAgIBADAKBggqhkjOPQQDAjAVMRMwEQYD"
    assert backups.ca_fingerprint(CA) == hashlib.sha256(body.encode()).hexdigest()


def test_a_snapshot_of_this_cluster_passes(tmp_path):
    db = snapshot(tmp_path)
    record = backups.check(db, "lab", "1.36.5", kubeconfig(tmp_path / "kubeconfig", CA))
    assert record["taken"] == "20261207T120000Z"
    # No kubeconfig on the controller: the nodes check the CA themselves (roles/control_plane/tasks/restore.yml).
    assert backups.check(db, "lab", "1.37.0", tmp_path / "no-kubeconfig")["cluster"] == "lab"


@pytest.mark.parametrize("change,refusal", [
    ("record", "has no record beside it"),
    ("cluster", "is a snapshot of cluster 'other', not of 'lab'"),
    ("newer", "was taken on Kubernetes 1.37.1, newer than this cluster's 1.36.5"),
    ("ca", "another CA than the one"),
    ("bytes", "does not match the sha256 of its record"),
    ("missing", "is not a file"),
    ("fields", "lacks sha256, ca_fingerprint"),
])
def test_a_snapshot_restore_must_not_take_is_refused(tmp_path, change, refusal):
    config = kubeconfig(tmp_path / "kubeconfig", OTHER_CA if change == "ca" else CA)
    db = snapshot(tmp_path, **{"cluster": {"cluster": "other"}, "newer": {"kubernetes_version": "1.37.1"}}
                  .get(change, {}))
    if change == "record":
        backups.record_path(db).unlink()
    if change == "bytes":
        db.write_bytes(b"an etcd snapshot, cut")
    if change == "missing":
        db.unlink()
    if change == "fields":
        backups.record_path(db).write_text(json.dumps({"cluster": "lab", "kubernetes_version": "1.36.5"}))
    with pytest.raises(UserError, match=refusal):
        backups.check(db, "lab", "1.36.5", config)


def test_the_newest_snapshot_is_the_latest_taken(tmp_path):
    assert backups.newest(tmp_path) is None
    for taken in ("20261207T120000Z", "20261130T235959Z", "20261207T090000Z"):
        (tmp_path / f"etcd-{taken}.db").write_bytes(b"")
    assert backups.newest(tmp_path).name == "etcd-20261207T120000Z.db"
