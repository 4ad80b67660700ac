"""Build the lab's node image from debootstrap, cached by a hash of its recipe."""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from clusterboot.debootstrap_image import DEBIAN_MIRROR, debootstrap_image, image_exists
from clusterboot.docker_engine import docker

DEBIAN_SECURITY_MIRROR = "http://deb.debian.org/debian-security"
SUITE = "bookworm"
# Bump when _configure_rootfs changes, so cached images are rebuilt.
RECIPE_VERSION = "4"
# What a fresh Ubuntu/Debian server has that Ansible and the roles rely on.
PACKAGES = [
    "systemd", "systemd-sysv", "dbus", "openssh-server", "python3", "python3-apt", "sudo",
    "iproute2", "ca-certificates", "gnupg", "curl", "kmod", "procps", "netplan.io",
]
# Units that have nothing to do in a container and only slow boot or spin.
MASKED_UNITS = ["getty@.service", "console-getty.service", "systemd-udevd.service", "systemd-remount-fs.service"]

SOURCES_LIST = f"""deb {DEBIAN_MIRROR} {SUITE} main
deb {DEBIAN_MIRROR} {SUITE}-updates main
deb {DEBIAN_SECURITY_MIRROR} {SUITE}-security main
"""

# As in Docker's own Debian and Ubuntu images: apt keeps neither the .deb files it downloaded nor its binary
# package caches, so a node's layer holds what it installed only (170 MB less per node, which a 100-node lab
# needs to fit on this disk).
APT_CONF = """APT::Keep-Downloaded-Packages "false";
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
"""

# Every imported container would share the image's SSH host keys: make them per node at boot.
HOSTKEYS_UNIT = """[Unit]
Description=Generate this node's own SSH host keys
Before=ssh.service
ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key

[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -A

[Install]
WantedBy=multi-user.target
"""

# PID 1 before systemd (the image's command): what kubelet and pods need from an unprivileged node, as
# kind's entrypoint does for its privileged ones, without ever changing a host-wide kernel setting.
LAB_INIT_PATH = "/usr/local/sbin/lab-init"
LAB_INIT = """#!/bin/sh
set -eu

# With --cgroupns=private Docker mounts the node's own cgroup subtree, read-only: systemd, kubelet and runc
# write there, so kubepods.slice is this node's alone (on the host: /docker/<id>/kubepods.slice).
for dir in /sys/fs/cgroup/*; do
    if mountpoint -q "$dir"; then
        mount -o remount,bind,rw "$dir"
    fi
done
if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
    mount -o remount,bind,rw /sys/fs/cgroup  # cgroup v2: one hierarchy
fi

# /proc/sys stays read-only: systemd-sysctl or `sysctl --system` would change the host's fs.*, kernel.*
# and vm.* settings. Only net.* is writable: it belongs to this node's network namespace.
mount --bind /proc/sys/net /proc/sys/net
mount -o remount,bind,rw /proc/sys/net
# kubelet insists on these host-wide values (with protectKernelDefaults: false it writes them when they
# differ): it reads them from this node's own files instead.
mkdir -p /run/lab/sysctl
for setting in vm/overcommit_memory=1 vm/panic_on_oom=0 kernel/panic=10 kernel/panic_on_oops=1 \\
    kernel/keys/root_maxkeys=1000000 kernel/keys/root_maxbytes=25000000; do
    key=${setting%%=*}
    file=/run/lab/sysctl/$(echo "$key" | tr / .)
    echo "${setting#*=}" >"$file"
    mount --bind "$file" "/proc/sys/$key"
done

# kubelet will not start without /dev/kmsg (its OOM watcher reads it). The lab passes the host's; where
# there is none, an empty one.
[ -e /dev/kmsg ] || ln -s /dev/null /dev/kmsg

# Pods' mountPropagation (Bidirectional, HostToContainer) needs shared mounts.
mount --make-rshared /

[ "$#" -gt 0 ] || set -- /lib/systemd/systemd
exec "$@"
"""
# The host's kernel log (passed in for kubelet's OOM watcher) is not this node's: keep it out of its journal.
JOURNALD_CONF = """[Journal]
ReadKMsg=no
"""

KEY_LAYER_DOCKERFILE = """FROM {base}
COPY authorized_keys /root/.ssh/authorized_keys
RUN chmod 700 /root/.ssh && chmod 600 /root/.ssh/authorized_keys
"""


@dataclass(frozen=True)
class NodeImage:
    base_tag: str
    tag: str


def recipe_hash() -> str:
    recipe = "\n".join([
        RECIPE_VERSION, SUITE, DEBIAN_MIRROR, *PACKAGES, *MASKED_UNITS, SOURCES_LIST, HOSTKEYS_UNIT, LAB_INIT,
        JOURNALD_CONF,
    ])
    return hashlib.sha256(recipe.encode()).hexdigest()[:12]


def ensure_node_image(state_dir: Path, public_key: str, log=print) -> NodeImage:
    """Return the node image with this lab's key, building only what is missing."""
    base_tag = f"clusterboot-node-base:{recipe_hash()}"
    key_hash = hashlib.sha256((base_tag + public_key).encode()).hexdigest()[:12]
    image = NodeImage(base_tag=base_tag, tag=f"clusterboot-node:{key_hash}")
    if image_exists(image.tag):
        return image
    if not image_exists(base_tag):
        log(f"building {base_tag} with debootstrap (a few minutes, once)")
        _build_base(state_dir, base_tag)
    with tempfile.TemporaryDirectory() as context:
        Path(context, "authorized_keys").write_text(public_key)
        Path(context, "Dockerfile").write_text(KEY_LAYER_DOCKERFILE.format(base=base_tag))
        docker("build", "-q", "-t", image.tag, "--label", "clusterboot.image=node", context)
    return image


def _build_base(state_dir: Path, tag: str) -> None:
    # A command, not an entrypoint: molecule runs this image with its own command (plain systemd).
    debootstrap_image(tag, SUITE, PACKAGES, state_dir, _configure_rootfs,
                      changes=[f'CMD ["{LAB_INIT_PATH}", "/lib/systemd/systemd"]'])


def _configure_rootfs(rootfs: Path) -> None:
    (rootfs / "etc/apt/sources.list").write_text(SOURCES_LIST)
    (rootfs / "etc/apt/apt.conf.d/90lab-no-cache").write_text(APT_CONF)
    for key in (rootfs / "etc/ssh").glob("ssh_host_*"):
        key.unlink()
    # systemd makes a unique machine-id per node at boot, but reads dbus's copy first: drop the baked one.
    (rootfs / "etc/machine-id").write_text("")
    dbus_id = rootfs / "var/lib/dbus/machine-id"
    dbus_id.unlink(missing_ok=True)
    dbus_id.symlink_to("/etc/machine-id")
    lab_init = rootfs / LAB_INIT_PATH.lstrip("/")
    lab_init.parent.mkdir(parents=True, exist_ok=True)
    lab_init.write_text(LAB_INIT)
    lab_init.chmod(0o755)
    journald_dir = rootfs / "etc/systemd/journald.conf.d"
    journald_dir.mkdir(parents=True, exist_ok=True)
    (journald_dir / "lab.conf").write_text(JOURNALD_CONF)
    unit_dir = rootfs / "etc/systemd/system"
    (unit_dir / "lab-hostkeys.service").write_text(HOSTKEYS_UNIT)
    wants = unit_dir / "multi-user.target.wants"
    wants.mkdir(parents=True, exist_ok=True)
    (wants / "lab-hostkeys.service").symlink_to("/etc/systemd/system/lab-hostkeys.service")
    for unit in MASKED_UNITS:
        target = unit_dir / unit
        target.unlink(missing_ok=True)
        target.symlink_to("/dev/null")
    shutil.rmtree(rootfs / "var/cache/apt/archives", ignore_errors=True)
    (rootfs / "var/cache/apt/archives/partial").mkdir(parents=True, exist_ok=True)
