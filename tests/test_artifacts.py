"""The offline Kubernetes artifacts: built from source, cached, stamped with the real version, complete for kubeadm.

Builds for real (warm from the cache after the first run: `python bootstrap.py artifacts build`).
"""

from __future__ import annotations

import json
import struct
import subprocess
import tarfile
from pathlib import Path

import pytest

from clusterboot.artifacts import build
from clusterboot.artifacts.images import sha256_file
from clusterboot.inventory_writer import KUBERNETES_VERSION

# The offline Kubernetes artifacts, built from source (seconds when cached, minutes cold: docs/benchmarks.md).
pytestmark = pytest.mark.cluster

REGISTRY = "registry.test:5000"


@pytest.fixture(scope="module")
def artifacts() -> Path:
    return build.build(KUBERNETES_VERSION, build.default_cache(), log=print).folder


@pytest.fixture(scope="module")
def manifest(artifacts: Path) -> dict:
    return json.loads((artifacts / "manifest.json").read_text())


def has_interpreter(binary: Path) -> bool:
    """Whether a 64-bit ELF file names a dynamic loader (a PT_INTERP program header): dynamically linked."""
    data = binary.read_bytes()[:65536]
    phoff, = struct.unpack_from("<Q", data, 0x20)
    size, count = struct.unpack_from("<HH", data, 0x36)
    return any(struct.unpack_from("<I", data, phoff + i * size)[0] == 3 for i in range(count))


def run(*argv: str) -> str:
    return subprocess.run(argv, capture_output=True, text=True, check=True).stdout.strip()


def test_a_second_build_builds_nothing_and_says_so(artifacts: Path) -> None:
    lines: list[str] = []
    again = build.build(KUBERNETES_VERSION, build.default_cache(), log=lines.append)
    assert again.built == []
    assert again.folder == artifacts
    assert any("up to date" in line and "nothing built" in line for line in lines)


def test_binaries_say_the_real_version(artifacts: Path) -> None:
    assert run(str(artifacts / "bin/kubeadm"), "version", "-o", "short") == f"v{KUBERNETES_VERSION}"
    assert run(str(artifacts / "bin/kubelet"), "--version") == f"Kubernetes v{KUBERNETES_VERSION}"
    client = json.loads(run(str(artifacts / "bin/kubectl"), "version", "--client", "-o", "json"))
    assert client["clientVersion"]["gitVersion"] == f"v{KUBERNETES_VERSION}"
    assert run(str(artifacts / "bin/crictl"), "--version").startswith("crictl version v" + KUBERNETES_VERSION.rsplit(".", 1)[0])


def test_containerd_and_runc_say_their_versions_and_runc_has_seccomp(artifacts: Path, manifest: dict) -> None:
    """A runc built without seccomp cannot start a pod that asks for RuntimeDefault (as Pod Security's restricted
    level makes the Spark pods do); static, so a node needs no libseccomp of its own."""
    runtime = manifest["runtime"]
    assert run(str(artifacts / "bin/containerd"), "--version").split()[2] == runtime["containerd_version"]
    first, *rest = run(str(artifacts / "bin/runc"), "--version").splitlines()
    said = dict(line.split(": ", 1) for line in rest)
    assert first == f"runc version {runtime['runc_version'][1:]}"
    assert said.get("libseccomp", "").startswith("2."), said  # built without the seccomp tag otherwise
    assert not has_interpreter(artifacts / "bin/runc")  # statically linked
    assert sorted(runtime["binaries"]) == ["containerd", "containerd-shim-runc-v2", "ctr", "runc"]


def test_manifest_checksums_match_the_files(artifacts: Path, manifest: dict) -> None:
    files = [*manifest["binaries"].values(), *manifest["runtime"]["binaries"].values(), *manifest["images"]]
    assert len(files) >= 4 + 4 + 10
    for entry in files:
        assert sha256_file(artifacts / entry["file"]) == entry["sha256"], entry["file"]


def test_every_image_kubeadm_pulls_is_in_the_built_set(artifacts: Path, manifest: dict) -> None:
    listed = run(str(artifacts / "bin/kubeadm"), "config", "images", "list",
                 "--kubernetes-version", f"v{KUBERNETES_VERSION}", "--image-repository", REGISTRY).split()
    assert len(listed) == 7  # apiserver, controller-manager, scheduler, proxy, coredns, pause, etcd
    built = {}
    for image in manifest["images"]:
        # Read the archive itself: the tag and the config digest it really holds.
        with tarfile.open(artifacts / image["file"]) as archive:
            entry = json.load(archive.extractfile("manifest.json"))[0]
        assert entry["RepoTags"] == [f"{image['name']}:{image['tag']}"]
        # Docker names the config blob by its digest: "<hex>.json" (or "blobs/sha256/<hex>").
        assert Path(entry["Config"]).name.removesuffix(".json") == image["id"].removeprefix("sha256:")
        built[f"{REGISTRY}/{image['name']}:{image['tag']}"] = image
    missing = [ref for ref in listed if ref not in built]
    assert not missing, f"kubeadm would pull {missing}, which the artifacts do not hold"


def test_etcd_and_calico_images_run_their_binaries(artifacts: Path, manifest: dict) -> None:
    """The images run: etcd prints its version, calico-node and the CNI plugin answer from inside them."""
    tags = {image["name"]: image["tag"] for image in manifest["images"]}
    # From the archives the nodes receive, not from the builder's Docker (a cached build leaves Docker alone,
    # and an image pruned there since would be missing).
    for image in manifest["images"]:
        if image["name"] in ("etcd", "calico/node"):
            run("docker", "load", "-q", "-i", str(artifacts / image["file"]))
    etcd = run("docker", "run", "--rm", "--entrypoint", "/usr/local/bin/etcd", f"etcd:{tags['etcd']}", "--version")
    assert f"etcd Version: {tags['etcd'].split('-')[0]}" in etcd
    node = run("docker", "run", "--rm", "--entrypoint", "/bin/calico-node", f"calico/node:{tags['calico/node']}", "-v")
    assert node.splitlines()[0].split() == ["Version:", tags["calico/node"]]  # the release, stamped at build
    # The network tools calico-node and kube-proxy call are in their image.
    for tool in ("iptables", "ipset", "ip", "conntrack"):
        run("docker", "run", "--rm", "--entrypoint", "/bin/sh", f"calico/node:{tags['calico/node']}", "-c",
            f"command -v {tool}")
