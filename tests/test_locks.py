"""The hashed lock files ./dev installs agree with the requirements files people edit (`./dev lock` rewrites them)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parent.parent
LOCKS = {
    "requirements.lock": ("requirements.txt", "requirements-build.txt"),
    "requirements-test.lock": ("requirements.txt", "requirements-dev.txt", "requirements-dl.txt",
                               "requirements-build.txt"),
    # The fast tests on the newest ansible-core (tests/newest_ansible.py), locked by its Python 3.13.
    "requirements-ansible-next.lock": ("requirements-ansible-next.txt",),
}
PIN = re.compile(r"^([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?==(\S+)", re.M)


def pins(text: str) -> dict[str, str]:
    return {name.lower().replace("_", "-"): version for name, version in PIN.findall(text)}


@pytest.mark.parametrize("lock", sorted(LOCKS))
def test_every_requirement_is_locked_at_its_pinned_version(lock: str) -> None:
    locked = pins((PROJECT / lock).read_text())
    for requirements in LOCKS[lock]:
        for name, version in pins((PROJECT / requirements).read_text()).items():
            assert locked.get(name) == version, f"{requirements} pins {name}=={version}, {lock} has " \
                                                f"{locked.get(name)}: run ./dev lock"


@pytest.mark.parametrize("lock", sorted(LOCKS))
def test_every_locked_package_carries_a_hash(lock: str) -> None:
    """pip's --require-hashes refuses the whole file otherwise; say which package, here."""
    entries = re.split(r"\n(?=[A-Za-z0-9])", (PROJECT / lock).read_text().strip())
    unhashed = [entry.split()[0] for entry in entries if "--hash=sha256:" not in entry]
    assert not unhashed


def test_the_newest_ansible_pins_the_others_pins_but_ansible_and_ansible_core() -> None:
    """One version of each shared tool: requirements-ansible-next.txt moves only Ansible itself."""
    others = {}
    for requirements in ("requirements.txt", "requirements-dev.txt", "requirements-build.txt"):
        others |= pins((PROJECT / requirements).read_text())
    newest = pins((PROJECT / "requirements-ansible-next.txt").read_text())
    assert newest["ansible-core"] != others["ansible-core"]
    differing = {name: (version, others[name]) for name, version in newest.items()
                 if name in others and version != others[name] and name not in ("ansible", "ansible-core")}
    assert not differing, "requirements-ansible-next.txt: (its pin, the others') " + str(differing)
