"""`artifacts build`: every binary and image an offline cluster needs, from source, into one folder with a manifest.

Layout of the folder (what the roles read; fill it from official releases by hand the same way):
  manifest.json                 versions, sources, sha256 of every file, image names, tags and ids
  bin/                          kubeadm kubelet kubectl crictl (installed on every node)
  images/*.tar                  docker-archive of each image (pushed once into the cluster registry)
  manifests/calico-vxlan.yaml   Calico's own manifest of the built version (images are rewritten on apply)
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from clusterboot import settings
from clusterboot.artifacts import gobuild, toolchain
from clusterboot.artifacts.images import (
    CALICO_NODE_START, ImageSpec, build_and_save, netbase_image, netbase_present, netbase_tag, sha256_file,
)
from clusterboot.artifacts.recipes import (
    COLD_SECONDS, CONTAINERD_COMMANDS, CONTAINERD_VERSION, KUBERNETES_COMMANDS, RUNC_VERSION, GoBuild,
    calico_source, cold_estimate, component_builds, kubernetes_build, runtime_builds,
)
from clusterboot.errors import UserError

NODE_BINARIES = ("kubeadm", "kubelet", "kubectl", "crictl")
NODE_BINARIES_IMAGE = "clusterboot/node-binaries"
CALICO_MANIFEST = "manifests/calico-vxlan.yaml"


def default_cache() -> Path:
    return Path(os.environ.get("CLUSTERBOOT_CACHE", Path.home() / ".cache" / "clusterboot"))


def artifacts_dir(cache: Path, kubernetes_version: str) -> Path:
    return cache / "artifacts" / f"kubernetes-v{kubernetes_version}"


@dataclass(frozen=True)
class BuildReport:
    folder: Path
    built: list[str]  # what was compiled or assembled this run; empty when everything was cached
    seconds: float


def default_calico_version() -> str:
    """The Calico release the calico role declares: the artifacts build the same one."""
    return str(settings.role_setting("calico", "calico_version", {}))


def build(kubernetes_version: str, cache: Path, log: Callable[[str], None] = print,
          calico_version: str | None = None) -> BuildReport:
    started = time.monotonic()
    calico_version = calico_version or default_calico_version()
    calico_source(calico_version)  # an unknown release is refused before anything is built
    go_binary = toolchain.go_binary(cache, log)
    folder = artifacts_dir(cache, kubernetes_version)
    logs = cache / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    built: list[str] = []
    cores = os.cpu_count() or 1

    def go(build_: GoBuild) -> Path:
        cached = gobuild.is_built(cache, build_)
        if not cached:
            built.append(f"{build_.name} {build_.version}")
        expected = cold_estimate([build_.name], cores)
        with _Heartbeat(f"go build {build_.name} {build_.version}", log, quiet=cached, expected=expected):
            return gobuild.run(cache, build_, logs / f"{build_.name}-{build_.version}.log", go_binary)

    release_time = gobuild.module_info(go_binary, "k8s.io/kubernetes", f"v{kubernetes_version}").get("Time", "")
    kubernetes = kubernetes_build(kubernetes_version, release_time or "1970-01-01T00:00:00Z")
    if not gobuild.is_built(cache, kubernetes):  # the rest follows from kubeadm: assume it is cold too
        log(_plan(list(COLD_SECONDS), cores))
    k8s_bin = go(kubernetes)
    wanted = kubeadm_images(k8s_bin / "kubeadm", kubernetes_version)
    etcd_tag, coredns_tag, pause_tag = wanted["etcd"], wanted["coredns"], wanted["pause"]
    builds = component_builds(".".join(kubernetes_version.split(".")[:2]), etcd_tag.split("-")[0], coredns_tag,
                              calico_version) + runtime_builds()
    pending = [b.name for b in builds if not gobuild.is_built(cache, b)]
    if pending and not built:
        log(_plan([*pending, "images"], cores))
    bins = {b.name: go(b) for b in builds}
    calico = next(b for b in builds if b.name == "calico")
    calico_module_dir = Path(gobuild.module_info(go_binary, calico.module, calico.version)["Dir"])

    calico_start = cache / "files" / "calico-node-start"
    calico_start.parent.mkdir(parents=True, exist_ok=True)
    calico_start.write_text(CALICO_NODE_START)
    specs = image_specs(kubernetes_version, k8s_bin, bins, etcd_tag, coredns_tag, pause_tag, netbase_tag(),
                        calico_start, calico_version)
    runtime = {**{name: bins["containerd"] / name for name in CONTAINERD_COMMANDS}, "runc": bins["runc"] / "runc"}
    fingerprint = hashlib.sha256(("".join(s.fingerprint() for s in specs)
                                  + "".join(sha256_file(path) for path in runtime.values())).encode()).hexdigest()[:16]
    manifest_file = folder / "manifest.json"
    if manifest_file.exists() and json.loads(manifest_file.read_text()).get("fingerprint") == fingerprint:
        log(f"artifacts for Kubernetes v{kubernetes_version} are up to date in {folder} (nothing built)")
        return BuildReport(folder, built, time.monotonic() - started)

    with _Heartbeat("network base image (debootstrap, once)", log, quiet=netbase_present()):
        netbase_image(cache)
    staging = folder.with_name(folder.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    for sub in ("bin", "images", "manifests"):
        (staging / sub).mkdir(parents=True)
    images = []
    for spec in specs:
        with _Heartbeat(f"image {spec.ref}", log, expected=cold_estimate(["images"], cores) / len(specs)):
            images.append(build_and_save(spec, staging / "images"))
    built.append(f"{len(images)} images")
    binaries = _copy_binaries({name: k8s_bin / name if name in KUBERNETES_COMMANDS else bins["cri-tools"] / name
                               for name in NODE_BINARIES}, staging)
    runtime_binaries = _copy_binaries(runtime, staging)
    shutil.copyfile(calico_module_dir / CALICO_MANIFEST, staging / CALICO_MANIFEST)
    manifest = {
        "kubernetes_version": kubernetes_version,
        "fingerprint": fingerprint,
        "sources": {b.name: {"module": b.module, "version": b.version}
                    for b in [kubernetes_build(kubernetes_version, release_time)] + builds},
        "binaries": binaries,
        # containerd and runc for nodes whose OS has an older containerd (the container_runtime role).
        "runtime": {"containerd_version": CONTAINERD_VERSION, "runc_version": RUNC_VERSION,
                    "binaries": runtime_binaries},
        "node_binaries_image": f"{NODE_BINARIES_IMAGE}:v{kubernetes_version}",
        "images": images,
        "kubeadm_images": wanted,
        "calico": {"tag": calico_version, "manifest": CALICO_MANIFEST,
                   "manifest_sha256": sha256_file(staging / CALICO_MANIFEST)},
    }
    (staging / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    shutil.rmtree(folder, ignore_errors=True)
    staging.rename(folder)
    return BuildReport(folder, built, time.monotonic() - started)


def _copy_binaries(sources: dict[str, Path], staging: Path) -> dict[str, dict[str, str]]:
    """Copy each binary into staging/bin; its manifest entry: {name: {file, sha256}}."""
    entries = {}
    for name, source in sources.items():
        shutil.copy2(source, staging / "bin" / name)
        entries[name] = {"file": f"bin/{name}", "sha256": sha256_file(source)}
    return entries


def kubeadm_images(kubeadm: Path, kubernetes_version: str) -> dict[str, str]:
    """{image name: tag} kubeadm pulls for this version, e.g. {'etcd': '3.6.5-0', 'pause': '3.10.1', ...}."""
    proc = subprocess.run(
        [str(kubeadm), "config", "images", "list", "--kubernetes-version", f"v{kubernetes_version}",
         "--image-repository", "repo.invalid", "-o", "json"],
        capture_output=True, check=False,
    )
    if proc.returncode != 0:
        raise UserError(f"kubeadm config images list failed: {proc.stderr.decode().strip()}")
    refs = json.loads(proc.stdout)["images"]
    return dict(ref.removeprefix("repo.invalid/").rsplit(":", 1) for ref in refs)


def image_specs(version: str, k8s: Path, bins: dict[str, Path], etcd_tag: str, coredns_tag: str,
                pause_tag: str, netbase: str, calico_start: Path, calico_tag: str) -> list[ImageSpec]:
    tag = f"v{version}"
    calico, cni = bins["calico"], bins["cni-plugins"]
    control = [ImageSpec(c, tag, ((f"/usr/local/bin/{c}", k8s / c),))
               for c in ("kube-apiserver", "kube-controller-manager", "kube-scheduler")]
    return control + [
        ImageSpec("kube-proxy", tag, (("/usr/local/bin/kube-proxy", k8s / "kube-proxy"),), base=netbase),
        ImageSpec("etcd", etcd_tag, (("/usr/local/bin/etcd", bins["etcd"] / "etcd"),
                                     ("/usr/local/bin/etcdctl", bins["etcd"] / "etcdctl"),
                                     ("/usr/local/bin/etcdutl", bins["etcd"] / "etcdutl"))),
        ImageSpec("coredns", coredns_tag, (("/coredns", bins["coredns"] / "coredns"),), entrypoint=("/coredns",)),
        ImageSpec("pause", pause_tag, (("/pause", bins["pause"] / "pause"),), entrypoint=("/pause",)),
        ImageSpec("calico/cni", calico_tag, (
            ("/opt/cni/bin/calico", calico / "calico"), ("/opt/cni/bin/calico-ipam", calico / "calico"),
            ("/opt/cni/bin/install", calico / "install"),
            *((f"/opt/cni/bin/{p}", cni / p) for p in ("loopback", "portmap", "bandwidth", "host-local")),
        )),
        ImageSpec("calico/node", calico_tag, (
            ("/bin/calico-node", calico / "calico-node"), ("/usr/local/bin/start-calico", calico_start),
        ), base=netbase, entrypoint=("/usr/local/bin/start-calico",)),
        ImageSpec("calico/kube-controllers", calico_tag, (
            ("/usr/bin/kube-controllers", calico / "kube-controllers"),
            ("/usr/bin/check-status", calico / "check-status"),
        # As upstream's image: user 999 (the manifest says runAsNonRoot), writing its status file for check-status.
        ), entrypoint=("/usr/bin/kube-controllers",), user="999", writable=("/status",)),
        # Not run: nodes pull it through containerd from the cluster registry and copy the binaries out.
        ImageSpec(NODE_BINARIES_IMAGE, tag, tuple(
            (f"/usr/bin/{b}", (k8s if b in KUBERNETES_COMMANDS else bins["cri-tools"]) / b) for b in NODE_BINARIES
        ), entrypoint=("/usr/bin/kubeadm",)),
    ]


def _plan(steps: list[str], cores: int) -> str:
    minutes = cold_estimate(steps, cores) / 60
    return (f"cold build of {', '.join(steps)}: about {minutes:.0f} min on {cores} cores "
            "(once; later runs take them from the cache)")


class _Heartbeat:
    """Says a long step started, then every 30 s that it is still running, then how long it took."""

    def __init__(self, what: str, log: Callable[[str], None], quiet: bool = False, expected: float = 0) -> None:
        self.what, self.log, self.quiet, self.expected = what, log, quiet, expected
        self._stop = threading.Event()

    def __enter__(self) -> "_Heartbeat":
        self.started = time.monotonic()
        if not self.quiet:
            self.log(f"{self.what} …" + (f" (about {self.expected:.0f} s)" if self.expected >= 1 else ""))
            threading.Thread(target=self._beat, daemon=True).start()
        return self

    def _beat(self) -> None:
        while not self._stop.wait(30):
            self.log(f"{self.what} … {time.monotonic() - self.started:.0f} s")

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if not self.quiet and exc[0] is None:
            self.log(f"{self.what}: done in {time.monotonic() - self.started:.0f} s")
