"""Choose Ansible's execution strategy: Mitogen's linear strategy when it is installed, stock otherwise.

Mitogen keeps one Python interpreter per node for the whole run instead of starting one per task,
which is where a no-op run on many nodes spends its CPU. It is optional: `auto` falls back to
Ansible's own linear strategy when the `mitogen` package is absent.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from clusterboot.errors import UserError

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
    """Environment for ansible-playbook that selects the strategy for `mode` (auto, on, off)."""
    if mode == "off":
        return {}
    folder = strategy_plugins()
    if folder is None:
        if mode == "on":
            raise UserError("--mitogen on: the mitogen package is not installed in this Python; "
                            "run `pip install -r requirements.txt` or use --mitogen off")
        return {}
    return {"ANSIBLE_STRATEGY_PLUGINS": str(folder), "ANSIBLE_STRATEGY": "mitogen_linear",
            "ANSIBLE_SSH_EXTRA_ARGS": f"-o ControlPath={SSH_CONTROL_DIR}/%C"}


def prepare_ssh_control_dir() -> None:
    """ssh refuses to start when the ControlPath's folder is missing (Ansible's own plugin makes it)."""
    SSH_CONTROL_DIR.mkdir(mode=0o700, exist_ok=True)
