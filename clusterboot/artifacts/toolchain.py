"""The Go toolchain the artifacts are built with: pinned, fetched from the Go module proxy, checked by sha256.

The proxy serves every Go release as the module golang.org/toolchain (that is how `go` itself switches
toolchains), so a machine with no Go at all, or with its distribution's old one, builds with exactly this Go.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path
from typing import Callable

from clusterboot.artifacts.images import sha256_file
from clusterboot.errors import UserError

GO_VERSION = "1.26.8"
# sha256 of golang.org/toolchain@v0.0.1-go1.26.8.linux-amd64.zip as proxy.golang.org serves it.
GO_TOOLCHAIN_SHA256 = {"linux-amd64": "30c2b1bf7dcc88d3eb0a1364e47ddd9128edb3110a30e8a0ef61cd5856b31de7"}
DEFAULT_PROXY = "https://proxy.golang.org"


def platform() -> str:
    machine = {"x86_64": "amd64", "aarch64": "arm64"}.get(os.uname().machine, os.uname().machine)
    return f"{os.uname().sysname.lower()}-{machine}"


def module_version(target: str) -> str:
    return f"v0.0.1-go{GO_VERSION}.{target}"


def proxy_url() -> str:
    """The first HTTP proxy of GOPROXY (as `go` reads it), else the public one."""
    for entry in os.environ.get("GOPROXY", "").replace("|", ",").split(","):
        if entry.startswith(("https://", "http://")):
            return entry.rstrip("/")
    return DEFAULT_PROXY


def go_binary(cache: Path, log: Callable[[str], None] = print) -> Path:
    """bin/go of the pinned toolchain, installed under cache/toolchain on first use."""
    target = platform()
    root = cache / "toolchain" / f"go{GO_VERSION}.{target}"
    go = root / "bin" / "go"
    if go.exists():
        return go
    expected = GO_TOOLCHAIN_SHA256.get(target)
    if expected is None:
        raise UserError(f"no pinned Go {GO_VERSION} toolchain for {target} (clusterboot/artifacts/toolchain.py "
                        f"knows {', '.join(GO_TOOLCHAIN_SHA256)}); add its sha256 there")
    url = f"{proxy_url()}/golang.org/toolchain/@v/{module_version(target)}.zip"
    log(f"Go {GO_VERSION} toolchain from {url} …")
    root.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root.parent) as work:
        archive = Path(work) / "toolchain.zip"
        _download(url, archive)
        actual = sha256_file(archive)
        if actual != expected:
            raise UserError(f"the Go toolchain from {url} has sha256 {actual}, not the pinned {expected}: "
                            "refusing it (a proxy that serves other bytes, or a broken download; rerun)")
        unpacked = Path(work) / "go"
        _unzip(archive, unpacked, prefix=f"golang.org/toolchain@{module_version(target)}/")
        shutil.rmtree(root, ignore_errors=True)
        unpacked.rename(root)  # atomic: an interrupted install leaves no half toolchain behind
    return go


def _download(url: str, dest: Path) -> None:
    try:
        with urllib.request.urlopen(url, timeout=60) as response, dest.open("wb") as out:
            shutil.copyfileobj(response, out, 1 << 20)
    except (urllib.error.URLError, OSError) as error:
        raise UserError(f"cannot download the Go toolchain from {url}: {error}; check that the Go module proxy "
                        "is reachable (GOPROXY names another one) and rerun") from error


def _unzip(archive: Path, dest: Path, prefix: str) -> None:
    """Unpack the files under prefix, keeping their Unix modes (zipfile alone drops the executable bits)."""
    with zipfile.ZipFile(archive) as zipped:
        for member in zipped.infolist():
            if not member.filename.startswith(prefix) or member.is_dir():
                continue
            relative = Path(member.filename[len(prefix):])
            if relative.is_absolute() or ".." in relative.parts:
                raise UserError(f"the Go toolchain archive holds an unsafe path: {member.filename}")
            target = dest / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            with zipped.open(member) as source, target.open("wb") as out:
                shutil.copyfileobj(source, out, 1 << 20)
            mode = (member.external_attr >> 16) & 0o777
            target.chmod(mode or 0o644)
