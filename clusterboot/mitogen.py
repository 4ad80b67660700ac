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
    return {"ANSIBLE_STRATEGY_PLUGINS": str(folder), "ANSIBLE_STRATEGY": "mitogen_linear"}
