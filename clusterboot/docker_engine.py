"""The Docker engine the artifacts build and the lab use: find one that answers, or start one; run the CLI."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

from clusterboot.errors import UserError


def docker(*args: str, check: bool = True, capture: bool = True, input_bytes: bytes | None = None) -> str:
    """Run the docker CLI; on failure raise UserError with docker's own message."""
    proc = subprocess.run(["docker", *args], input=input_bytes, capture_output=capture, check=False)
    if check and proc.returncode != 0:
        message = (proc.stderr or b"").decode(errors="replace").strip().splitlines()
        raise UserError(f"docker {args[0]} failed: {message[-1] if message else 'exit ' + str(proc.returncode)}")
    return (proc.stdout or b"").decode(errors="replace")


def engine_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "info"], capture_output=True, check=False).returncode == 0


def ensure_engine(state_dir: Path, wait_seconds: float = 60.0) -> str:
    """Return how the engine was found; start Debian's dockerd as root if none answers."""
    if engine_answers():
        return "running"
    if os.geteuid() != 0:
        raise UserError("no Docker engine answers and you are not root: start Docker, or run as root so the lab can start one")
    if shutil.which("dockerd") is None:
        apt_install(["docker.io"])
    state_dir.mkdir(parents=True, exist_ok=True)
    log = (state_dir / "dockerd.log").open("ab")
    proc = subprocess.Popen(["dockerd"], stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    (state_dir / "dockerd.pid").write_text(f"{proc.pid}\n")
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline:
        if engine_answers():
            return "started"
        if proc.poll() is not None:
            break
        time.sleep(0.5)
    raise UserError(f"dockerd did not come up; see {state_dir / 'dockerd.log'}")


def apt_install(packages: list[str]) -> None:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", *packages]):
        if subprocess.run(cmd, env=env, capture_output=True, check=False).returncode != 0:
            raise UserError(f"could not install {' '.join(packages)} with apt-get; install it by hand and retry")
