"""The lab's apt repo (clusterboot/lab/apt_repo.py) builds the same .deb bytes for the same version every time,
as pkgs.k8s.io serves them: a package cache that kept a .deb from an earlier build still matches the new index.
Real dpkg-deb and gpg, on small stand-ins for the built binaries."""

import json
import subprocess
import time
from pathlib import Path

from clusterboot.lab import apt_repo


def artifacts(folder: Path) -> Path:
    (folder / "bin").mkdir(parents=True)
    for name in ("crictl", "kubectl", "kubelet", "kubeadm"):
        (folder / "bin" / name).write_bytes(f"#!/bin/sh\necho {name}\n".encode())
    (folder / "manifest.json").write_text(json.dumps({"kubernetes_version": "v1.34.2"}))
    return folder


def debs(repo: apt_repo.AptRepo) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(repo.root.rglob("*.deb"))}


def test_two_builds_give_the_same_debs_and_index(tmp_path: Path) -> None:
    source = artifacts(tmp_path / "artifacts")
    first = apt_repo.build(source, tmp_path / "first", "127.0.0.1")
    time.sleep(1.1)  # a build that stamped the clock into the archives would now differ
    for binary in (source / "bin").iterdir():
        binary.touch()
    second = apt_repo.build(source, tmp_path / "second", "127.0.0.1")
    assert sorted(debs(first)) == ["cri-tools_1.34.2-1.1_amd64.deb", "kubeadm_1.34.2-1.1_amd64.deb",
                                   "kubectl_1.34.2-1.1_amd64.deb", "kubelet_1.34.2-1.1_amd64.deb"]
    assert debs(first) == debs(second)
    index = "core:/stable:/v1.34/deb/Packages"
    assert (first.root / index).read_bytes() == (second.root / index).read_bytes()


def test_a_build_leaves_no_gpg_agent_running(tmp_path: Path) -> None:
    apt_repo.build(artifacts(tmp_path / "artifacts"), tmp_path / "repo", "127.0.0.1")
    agents = subprocess.run(["pgrep", "-f", f"gpg-agent --homedir {tmp_path / 'repo'}"], capture_output=True,
                            text=True, check=False).stdout
    assert agents == ""
