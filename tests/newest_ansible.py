"""The fast tests on the newest ansible-core, in a Debian 13 (trixie) container.

ansible-core 2.20 and later need Python 3.12; the project's machines run Debian 12 (Python 3.11). So `./dev test`
also runs the fast tests in a container of Debian 13 (Python 3.13), debootstrapped from Debian's archive as the
lab's node image is and cached by a hash of its recipe, on a venv from requirements-ansible-next.lock (hashed;
`./dev lock` writes it in the same container, so its hashes are those of the cp313 wheels). There the project's
strategy runs as its base unchanged after its one-line notice (the levers are tested on the pinned minor only).

    python tests/newest_ansible.py image        build the image if it is missing; print its tag
    python tests/newest_ansible.py lock [ARGS]  rewrite the lock in the container (pip-compile ARGS: --upgrade)
    python tests/newest_ansible.py test [ARGS]  the fast tests in the container (more pytest ARGS)

What git does not ignore of the checkout is copied in. The lock's wheels (pip's own cache keeps nothing an egress
proxy serves without cache headers) and the venv are kept in the project's cache folder (CLUSTERBOOT_CACHE, else
~/.cache/clusterboot), under ansible-next/: a warm run installs nothing, a new lock or image makes a new venv from
the kept wheels (pip checks each one's hash again), and a new machine starts from empty.
"""

from __future__ import annotations

import hashlib
import re
import shlex
import shutil
import ssl
import subprocess
import sys
from pathlib import Path
from typing import Callable

from clusterboot.artifacts.build import default_cache
from clusterboot.debootstrap_image import debootstrap_image, image_exists
from clusterboot.docker_engine import ensure_engine

PROJECT = Path(__file__).resolve().parent.parent
SUITE = "trixie"
# Bump when the image's recipe changes in a way the lists below do not show.
RECIPE_VERSION = "1"
# Python 3.13 and a venv; the CA bundle for pip and for the test that fetches Go from the module proxy; gpg and
# pgrep for the lab's apt repository's tests (tests/test_apt_repo.py).
PACKAGES = ["python3", "python3-venv", "ca-certificates", "gpg", "gpg-agent", "procps"]
REQUIREMENTS = "requirements-ansible-next.txt"
LOCK = "requirements-ansible-next.lock"
# The same flags as ./dev's lock().
PIP_TOOLS = "pip-tools==7.7.0"
COMPILE = ["--generate-hashes", "--allow-unsafe", "--strip-extras", "--no-emit-find-links", "--no-header", "-q"]
# tests/spark needs pyspark and a JVM, which this lock leaves out (as the -m selection does).
PYTEST = ["-p", "no:cacheprovider", "-q", "-m", "not lab and not cluster and not spark", "--ignore=tests/spark",
          "tests"]
# Inside the container: the copied checkout, the venv and the lock's wheels (both kept on the host).
WORK, VENV, WHEELS = "/work/clusterboot", "/venv", "/wheels"


def recipe_hash() -> str:
    return hashlib.sha256("\n".join([RECIPE_VERSION, SUITE, *PACKAGES]).encode()).hexdigest()[:12]


def image_tag() -> str:
    return f"clusterboot-ansible-next:{recipe_hash()}"


def ensure_image(cache: Path, log: Callable[[str], None] = print) -> str:
    tag = image_tag()
    ensure_engine(cache / "ansible-next")
    if not image_exists(tag):
        log(f"building {tag} with debootstrap {SUITE} (a few minutes, once)")
        debootstrap_image(tag, SUITE, PACKAGES, cache / "ansible-next" / "build", configure=_configure,
                          changes=["ENV LANG=C.UTF-8", f"WORKDIR {WORK}"])
    return tag


def _configure(rootfs: Path) -> None:
    """No .deb files kept in the image (as in Docker's own Debian images)."""
    for deb in (rootfs / "var/cache/apt/archives").glob("*.deb"):
        deb.unlink()


def checkout_tar() -> bytes:
    """The checkout as git sees it, less what .gitignore names (venvs, build output, labs)."""
    ignored = [line.rstrip("/") for line in (PROJECT / ".gitignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")]
    return subprocess.run(["tar", "-C", str(PROJECT), "--exclude=.git", *(f"--exclude={name}" for name in ignored),
                           "-cf", "-", "."], capture_output=True, check=True).stdout


def host_ca_bundle() -> Path | None:
    """The host's CA bundle, so the container trusts what this machine trusts (an egress proxy's CA too)."""
    cafile = ssl.get_default_verify_paths().cafile
    return Path(cafile).resolve() if cafile and Path(cafile).is_file() else None


def venv_dir(cache: Path) -> Path:
    """The venv of this image and lock. Before a new one is made, the venvs of earlier ones, and the kept wheels
    the lock no longer names (by hash), are removed."""
    lock_text = (PROJECT / LOCK).read_text()
    key = hashlib.sha256((recipe_hash() + lock_text).encode()).hexdigest()[:12]
    folder = cache / "ansible-next" / f"venv-{key}"
    if not (folder / ".installed").exists():
        for old in folder.parent.glob("venv-*"):
            if old != folder:
                shutil.rmtree(old)
        wanted = set(re.findall(r"--hash=sha256:([0-9a-f]{64})", lock_text))
        for wheel in (cache / "ansible-next" / "wheels").glob("*"):
            if hashlib.sha256(wheel.read_bytes()).hexdigest() not in wanted:
                wheel.unlink()
    return folder


def docker_run(tag: str, script: str, *volumes: str) -> list[str]:
    """`docker run` of `script` (sh, after the checkout arrives on stdin) with the host's CAs."""
    mounts = [arg for volume in volumes for arg in ("-v", volume)]
    bundle = host_ca_bundle()
    if bundle:
        mounts += ["-v", f"{bundle}:/etc/ssl/certs/ca-certificates.crt:ro",
                   "-e", "PIP_CERT=/etc/ssl/certs/ca-certificates.crt",
                   "-e", "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"]
    unpack = f"mkdir -p {WORK} && tar -C {WORK} -xf - && "
    return ["docker", "run", "--rm", "-i", *mounts, "-e", "PIP_DISABLE_PIP_VERSION_CHECK=1", tag,
            "sh", "-euc", unpack + script]


def venv_script(pytest_args: list[str]) -> str:
    """Make the venv from the lock (a venv folder that lacks .installed: new, or left half-made), install the
    project when pyproject.toml changed, then test."""
    stamp = f"{VENV}/.pyproject.sha256"
    return f"""
if [ ! -e {VENV}/.installed ]; then
    find {VENV} -mindepth 1 -delete
    python3 -m venv {VENV}
    {VENV}/bin/pip download -q --require-hashes --no-deps -d {WHEELS} -r {LOCK}
    {VENV}/bin/pip install -q --require-hashes --no-deps --no-index --find-links {WHEELS} -r {LOCK}
    touch {VENV}/.installed
fi
if ! sha256sum --check --status {stamp} 2>/dev/null; then
    {VENV}/bin/pip install -q --no-deps --no-build-isolation -e .
    sha256sum pyproject.toml > {stamp}
fi
{VENV}/bin/python -c 'import ansible.release as a, platform; print("ansible-core", a.__version__, \
    "on Python", platform.python_version())'
exec {VENV}/bin/python -m pytest {shlex.join([*PYTEST, *pytest_args])}
"""


def lock_script(compile_args: list[str]) -> str:
    return f"""
python3 -m venv /tmp/tools
/tmp/tools/bin/pip install -q {PIP_TOOLS}
/tmp/tools/bin/pip-compile {shlex.join([*COMPILE, *compile_args])} -o /out/{LOCK} {REQUIREMENTS}
"""


def run_tests(pytest_args: list[str]) -> int:
    cache = default_cache()
    tag = ensure_image(cache)
    cmd = docker_run(tag, venv_script(pytest_args), f"{venv_dir(cache)}:{VENV}",
                     f"{cache / 'ansible-next' / 'wheels'}:{WHEELS}")
    return subprocess.run(cmd, input=checkout_tar(), check=False).returncode


def lock(compile_args: list[str]) -> int:
    """pip-compile in the container, writing the lock beside the requirements file (its old pins kept)."""
    cache = default_cache()
    tag = ensure_image(cache)
    out = cache / "ansible-next" / "lock"
    out.mkdir(parents=True, exist_ok=True)
    (out / LOCK).unlink(missing_ok=True)
    if (PROJECT / LOCK).exists():  # pip-compile keeps the pins of the output file it finds
        (out / LOCK).write_bytes((PROJECT / LOCK).read_bytes())
    rc = subprocess.run(docker_run(tag, lock_script(compile_args), f"{out}:/out"), input=checkout_tar(),
                        check=False).returncode
    if rc == 0:
        (PROJECT / LOCK).write_bytes((out / LOCK).read_bytes())
    return rc


def main(argv: list[str]) -> int:
    command, args = (argv[0], argv[1:]) if argv else ("", [])
    if command == "image":
        print(ensure_image(default_cache(), log=lambda line: print(line, file=sys.stderr)))
        return 0
    if command == "lock":
        return lock(args)
    if command == "test":
        return run_tests(args)
    print(__doc__.split("\n\n")[2], file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
