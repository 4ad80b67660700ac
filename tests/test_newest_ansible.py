"""tests/newest_ansible.py, the run of the fast tests on the newest ansible-core in a Debian 13 container: what it
copies in, how it runs the container, and that it runs the README's fast selection. (./dev test runs it for real.)"""

from __future__ import annotations

import io
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

import newest_ansible

PROJECT = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(shutil.which("git") is None or not (PROJECT / ".git").exists(), reason="not a git checkout")
def test_the_checkout_goes_in_as_git_sees_it_without_what_it_ignores() -> None:
    archive = tarfile.open(fileobj=io.BytesIO(newest_ansible.checkout_tar()))
    names = {name.removeprefix("./") for name in archive.getnames()}
    tracked = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=PROJECT,
                             capture_output=True, text=True, check=True).stdout.split()
    assert {name for name in tracked if (PROJECT / name).exists()} <= names
    assert not {name for name in names if name.split("/")[0] in (".git", ".venv", ".artifacts", ".lab")}


def test_the_container_gets_the_checkout_on_stdin_and_the_hosts_cas_read_only(tmp_path: Path) -> None:
    cmd = newest_ansible.docker_run("image:tag", "true", f"{tmp_path}:/venv")
    assert cmd[:4] == ["docker", "run", "--rm", "-i"] and cmd[-4:-1] == ["image:tag", "sh", "-euc"]
    mounts = [cmd[i + 1] for i, arg in enumerate(cmd) if arg == "-v"]
    assert f"{tmp_path}:/venv" in mounts and not any(m.startswith(f"{PROJECT}:") for m in mounts)
    bundle = newest_ansible.host_ca_bundle()
    assert bundle is None or f"{bundle}:/etc/ssl/certs/ca-certificates.crt:ro" in mounts
    assert cmd[-1].startswith(f"mkdir -p {newest_ansible.WORK} && tar -C {newest_ansible.WORK} -xf - && ")


def test_it_runs_the_readmes_fast_selection_from_the_lock_with_hashes() -> None:
    script = newest_ansible.venv_script(["-x"])
    assert "-m 'not lab and not cluster and not spark'" in script and script.rstrip().endswith("tests -x")
    assert f"--require-hashes --no-deps -d {newest_ansible.WHEELS} -r {newest_ansible.LOCK}" in script
    assert (f"--require-hashes --no-deps --no-index --find-links {newest_ansible.WHEELS} -r {newest_ansible.LOCK}"
            in script)
    assert '-m "not lab and not cluster and not spark" tests' in (PROJECT / "README.md").read_text()


def test_a_new_recipe_is_a_new_image() -> None:
    before = newest_ansible.image_tag()
    newest_ansible.PACKAGES.append("git")
    try:
        assert newest_ansible.image_tag() != before
    finally:
        newest_ansible.PACKAGES.remove("git")
