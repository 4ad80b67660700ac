"""Are clusterboot_linear's speed levers on under the ansible-core these tests run on? They switch on only for the
minors they are tested on (LEVERS_TESTED_ON); elsewhere a run is the base strategy unchanged, and the tests of
the levers themselves skip, saying why (tests/newest_ansible.py runs the fast tests on the newest ansible-core)."""

from __future__ import annotations

import importlib.util
import os
import types
from pathlib import Path

import pytest
from ansible.release import __version__ as ANSIBLE_CORE_VERSION

STRATEGY = Path(__file__).resolve().parent.parent / "plugins" / "strategy" / "clusterboot_linear.py"


def load_plugin(name: str, environ: dict[str, str] | None = None) -> types.ModuleType:
    """The plugin module as Ansible loads it, under `environ` (default: this process's) while it loads."""
    spec = importlib.util.spec_from_file_location(name, STRATEGY)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    saved = dict(os.environ)
    try:
        os.environ.update(environ or {})
        spec.loader.exec_module(module)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return module


# Loaded with the levers off: nothing of Ansible is patched in this process by asking.
_PLUGIN = load_plugin("clusterboot_linear_levers_query", {"CLUSTERBOOT_LEVERS": "off"})
LEVERS_TESTED_ON: tuple[str, ...] = _PLUGIN.LEVERS_TESTED_ON
levers_enabled = _PLUGIN.levers_enabled
# What an ansible-playbook run from this process gets.
LEVERS_ON: bool = levers_enabled(ANSIBLE_CORE_VERSION, os.environ)
OFF_REASON = (f"the speed levers are off on ansible-core {ANSIBLE_CORE_VERSION} (tested on "
              f"{', '.join(LEVERS_TESTED_ON)}; CLUSTERBOOT_LEVERS={os.environ.get('CLUSTERBOOT_LEVERS', 'on')}): "
              "a run is its base strategy unchanged, which test_strategy.py's levers-off test checks")
needs_levers = pytest.mark.skipif(not LEVERS_ON, reason=OFF_REASON)
