"""Container images made of the built binaries, named and tagged as kubeadm and Calico's manifest expect."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from clusterboot.errors import UserError
from clusterboot.docker_engine import apt_install, docker

# kube-proxy and calico-node program the node's packet filter and routes: they need these tools.
NETBASE_PACKAGES = ["iptables", "ipset", "conntrack", "iproute2", "kmod", "ca-certificates"]
NETBASE_SUITE = "bookworm"
NETBASE_MIRROR = "http://deb.debian.org/debian"

# calico-node's processes as the upstream image's runit services start them, for the VXLAN data plane
# (no BGP daemon): set up the node, allocate the tunnel address, then felix with its helpers beside it.
CALICO_NODE_START = """#!/bin/sh
set -e
calico-node -startup
export NODENAME="$(cat /var/lib/calico/nodename)" FELIX_FELIXHOSTNAME="$(cat /var/lib/calico/nodename)"
export FELIX_DATASTORETYPE="${DATASTORE_TYPE:-kubernetes}"
# This build has no libbpf (no cgo): felix's cleanup of a BPF connect-time load balancer, which it runs in
# iptables mode in case BPF mode was on before, would panic in libbpf's stub. BPF mode is never on here.
export FELIX_DebugSkipCTLBCleanup=true
calico-node -allocate-tunnel-addrs -allocate-tunnel-addrs-run-once
calico-node -allocate-tunnel-addrs &
calico-node -monitor-addresses &
calico-node -monitor-token &
exec calico-node -felix
"""


@dataclass(frozen=True)
class ImageSpec:
    """An image: where each file goes in it, on which base, and what it runs."""

    name: str
    tag: str
    files: tuple[tuple[str, Path], ...]  # (path in the image, file on the controller)
    base: str = "scratch"
    entrypoint: tuple[str, ...] = ()
    user: str = ""  # run as this uid (a manifest with runAsNonRoot refuses root), owning `writable`
    writable: tuple[str, ...] = ()  # empty folders the user may write


    @property
    def ref(self) -> str:
        return f"{self.name}:{self.tag}"

    @property
    def archive_name(self) -> str:
        return f"{self.name.replace('/', '_')}_{self.tag}.tar"

    def fingerprint(self) -> str:
        digest = hashlib.sha256(repr((self.name, self.tag, self.base, self.entrypoint, self.user,
                                      self.writable)).encode())
        for target, source in self.files:
            digest.update(target.encode())
            digest.update(source.read_bytes() if source.is_file() else b"")
        return digest.hexdigest()[:16]


def netbase_tag() -> str:
    """The network base image's tag: a hash of its recipe, so a changed recipe is a new image."""
    recipe = "\n".join([NETBASE_SUITE, NETBASE_MIRROR, *NETBASE_PACKAGES])
    return f"clusterboot-netbase:{hashlib.sha256(recipe.encode()).hexdigest()[:12]}"


def netbase_present() -> bool:
    return subprocess.run(["docker", "image", "inspect", netbase_tag()], capture_output=True, check=False).returncode == 0


def netbase_image(work_dir: Path) -> str:
    """A minimal Debian with the network tools, from debootstrap (no image registry is needed); built once."""
    tag = netbase_tag()
    if netbase_present():
        return tag
    if shutil.which("debootstrap") is None:
        apt_install(["debootstrap"])
    with tempfile.TemporaryDirectory(dir=work_dir) as work:
        rootfs = Path(work) / "rootfs"
        cmd = ["debootstrap", "--variant=minbase", f"--include={','.join(NETBASE_PACKAGES)}",
               NETBASE_SUITE, str(rootfs), NETBASE_MIRROR]
        proc = subprocess.run(cmd, capture_output=True, check=False)
        if proc.returncode != 0:
            (work_dir / "netbase-debootstrap.log").write_bytes(proc.stdout + proc.stderr)
            raise UserError(f"debootstrap of the network base image failed; see {work_dir / 'netbase-debootstrap.log'}")
        shutil.rmtree(rootfs / "var/cache/apt/archives", ignore_errors=True)
        shutil.rmtree(rootfs / "var/lib/apt/lists", ignore_errors=True)
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "--numeric-owner", "-c", "."], stdout=subprocess.PIPE)
        imported = subprocess.run(["docker", "import", "-", tag], stdin=tar.stdout, capture_output=True, check=False)
        tar.stdout.close()
        tar.wait()
    if imported.returncode != 0:
        raise UserError(f"docker import of the network base image failed: {imported.stderr.decode().strip()}")
    return tag


def build_and_save(spec: ImageSpec, archive_dir: Path) -> dict:
    """docker build the image, save it to archive_dir; return its manifest entry (id = config digest)."""
    with tempfile.TemporaryDirectory() as context:
        lines = [f"FROM {spec.base}"]
        (Path(context) / "tmp").mkdir(mode=0o1777)
        (Path(context) / "tmp").chmod(0o1777)
        lines.append("COPY tmp /tmp")
        for index, (target, source) in enumerate(spec.files):
            staged = Path(context) / f"f{index}"
            shutil.copy2(source, staged)
            staged.chmod(0o755)
            lines.append(f"COPY f{index} {target}")
        for index, folder in enumerate(spec.writable):
            (Path(context) / f"w{index}").mkdir()
            lines.append(f"COPY --chown={spec.user} w{index} {folder}")
        lines.append("ENV PATH=/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin")
        if spec.user:
            lines.append(f"USER {spec.user}")
        if spec.entrypoint:
            lines.append(f"ENTRYPOINT {json.dumps(list(spec.entrypoint))}")
        (Path(context) / "Dockerfile").write_text("\n".join(lines) + "\n")
        docker("build", "-q", "-t", spec.ref, "--label", f"clusterboot.artifact={spec.fingerprint()}", context)
    image_id = docker("image", "inspect", "-f", "{{.Id}}", spec.ref).strip()
    archive = archive_dir / spec.archive_name
    docker("save", "-o", str(archive), spec.ref)
    return {"name": spec.name, "tag": spec.tag, "file": f"images/{spec.archive_name}", "id": image_id,
            "sha256": sha256_file(archive)}


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
