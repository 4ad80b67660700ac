"""The runner uses Mitogen's strategy when it is installed and falls back cleanly when it is not."""

import pytest

from clusterboot import mitogen
from clusterboot.errors import UserError


def test_installed_mitogen_selects_its_linear_strategy():
    env = mitogen.strategy_env("auto")
    assert env["ANSIBLE_STRATEGY"] == "mitogen_linear"
    assert (mitogen.strategy_plugins() / "mitogen_linear.py").exists()


def test_off_leaves_ansible_stock():
    assert mitogen.strategy_env("off") == {}


def test_absent_mitogen_falls_back_under_auto_and_is_named_under_on(monkeypatch):
    monkeypatch.setattr(mitogen.importlib.util, "find_spec", lambda name: None)
    assert mitogen.strategy_env("auto") == {}
    with pytest.raises(UserError, match="mitogen package is not installed.*--mitogen off"):
        mitogen.strategy_env("on")


def test_mitogen_ssh_reuses_a_persisted_master_per_node():
    env = mitogen.strategy_env("auto")
    assert env["ANSIBLE_SSH_EXTRA_ARGS"] == f"-o ControlPath={mitogen.SSH_CONTROL_DIR}/%C"
