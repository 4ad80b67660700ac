"""A Docker image from a Debian root filesystem that debootstrap makes from Debian's archive: the lab's node image
(clusterboot/lab/node_image.py) and the test image of the newest ansible-core (tests/newest_ansible.py)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Callable

from clusterboot.docker_engine import apt_install
from clusterboot.errors import UserError

DEBIAN_MIRROR = "http://deb.debian.org/debian"
# Named explicitly: debootstrap without a keyring it can read would fetch the archive unverified. Debian's
# debian-archive-keyring carries the keys of the current releases (bookworm's has trixie's too).
DEBIAN_KEYRING = Path("/usr/share/keyrings/debian-archive-keyring.gpg")


def image_exists(tag: str) -> bool:
    return subprocess.run(["docker", "image", "inspect", tag], capture_output=True, check=False).returncode == 0


def debootstrap_image(tag: str, suite: str, packages: list[str], work_dir: Path,
                      configure: Callable[[Path], None], changes: list[str]) -> None:
    """debootstrap `suite` (minbase plus `packages`) into work_dir/rootfs, verified against Debian's keyring,
    let `configure` edit it, and import it into Docker as `tag` with the Dockerfile `changes` (CMD, ENV ...)."""
    missing = [package for package, present in (("debootstrap", shutil.which("debootstrap")),
                                                ("debian-archive-keyring", DEBIAN_KEYRING.exists())) if not present]
    if missing:
        apt_install(missing)
    rootfs = work_dir / "rootfs"
    shutil.rmtree(rootfs, ignore_errors=True)
    rootfs.parent.mkdir(parents=True, exist_ok=True)
    cmd = ["debootstrap", "--variant=minbase", f"--keyring={DEBIAN_KEYRING}", f"--include={','.join(packages)}",
           suite, str(rootfs), DEBIAN_MIRROR]
    proc = subprocess.run(cmd, capture_output=True, check=False)
    if proc.returncode != 0:
        (work_dir / "debootstrap.log").write_bytes(proc.stdout + proc.stderr)
        raise UserError(f"debootstrap {suite} failed; see {work_dir / 'debootstrap.log'}")
    configure(rootfs)
    tar = subprocess.Popen(["tar", "-C", str(rootfs), "--numeric-owner", "-c", "."], stdout=subprocess.PIPE)
    imported = subprocess.run(
        ["docker", "import", *(arg for change in changes for arg in ("-c", change)), "-", tag],
        stdin=tar.stdout, capture_output=True, check=False,
    )
    tar.stdout.close()  # so tar gets SIGPIPE instead of blocking if import stopped reading
    tar.wait()
    shutil.rmtree(rootfs, ignore_errors=True)
    if imported.returncode != 0:
        raise UserError(f"docker import failed: {imported.stderr.decode(errors='replace').strip()}")
