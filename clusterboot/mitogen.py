"""Choose Ansible's execution strategy: the project's clusterboot_linear on Mitogen's linear strategy when
Mitogen is installed, on Ansible's own linear strategy otherwise.

Mitogen keeps one Python interpreter per node for the whole run instead of starting one per task,
which is where a no-op run on many nodes spends its CPU. It is optional: `auto` falls back to
Ansible's own linear strategy when the `mitogen` package is absent. clusterboot_linear
(plugins/strategy) skips a task whose condition is false, and runs a controller-only action, without forking
a worker; ansible.cfg names it.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from clusterboot.errors import UserError
from clusterboot.paths import STRATEGY_PLUGINS_DIR


MODES = ("auto", "on", "off")
# ansible.cfg's control_path_dir. Mitogen runs ssh with ansible.cfg's ssh_args but without the ControlPath
# Ansible's ssh plugin adds, so ControlPersist never took effect: every run paid a full SSH handshake per
# node (on 10 lab nodes a persisted master saved 100 ms controller and 80 ms node CPU per node per run).
SSH_CONTROL_DIR = Path("/tmp/clusterboot-ssh")


def strategy_plugins() -> Path | None:
    """The folder of Mitogen's strategy plugins, or None when Mitogen is not installed."""
    spec = importlib.util.find_spec("ansible_mitogen")
    if spec is None or spec.origin is None:
        return None
    folder = Path(spec.origin).parent / "plugins" / "strategy"
    return folder if (folder / "mitogen_linear.py").exists() else None


def strategy_env(mode: str) -> dict[str, str]:
    """Environment for ansible-playbook that selects the strategy for `mode` (auto, on, off): with Mitogen,
    clusterboot_linear (ansible.cfg's strategy) builds on mitogen_linear instead of Ansible's linear."""
    if mode == "off":
        return {}
    folder = strategy_plugins()
    if folder is None:
        if mode == "on":
            raise UserError("--mitogen on: the mitogen package is not installed in this Python; "
                            "run `pip install -r requirements.txt` or use --mitogen off")
        return {}
    # ANSIBLE_STRATEGY_PLUGINS replaces ansible.cfg's strategy_plugins: name the project's folder again.
    return {"ANSIBLE_STRATEGY_PLUGINS": f"{STRATEGY_PLUGINS_DIR}{os.pathsep}{folder}",
            "CLUSTERBOOT_STRATEGY_BASE": "mitogen_linear",
            "ANSIBLE_SSH_EXTRA_ARGS": f"-o ControlPath={SSH_CONTROL_DIR}/%C"}


def prepare_ssh_control_dir() -> None:
    """ssh refuses to start when the ControlPath's folder is missing (Ansible's own plugin makes it)."""
    SSH_CONTROL_DIR.mkdir(mode=0o700, exist_ok=True)
