"""The runner uses Mitogen's strategy when it is installed and falls back cleanly when it is not."""

import configparser
import importlib.machinery
import os
import subprocess
import sys
from pathlib import Path

import pytest

from clusterboot import mitogen, paths
from clusterboot.errors import UserError


def test_installed_mitogen_becomes_the_base_of_the_projects_strategy():
    env = mitogen.strategy_env("auto")
    assert env["CLUSTERBOOT_STRATEGY_BASE"] == "mitogen_linear" and "ANSIBLE_STRATEGY" not in env
    assert (mitogen.strategy_plugins() / "mitogen_linear.py").exists()
    cfg = configparser.ConfigParser()
    cfg.read(Path(__file__).resolve().parent.parent / "ansible.cfg")
    assert cfg["defaults"]["strategy"] == "clusterboot_linear"


def test_the_run_env_makes_ansible_find_the_installed_mitogen_strategies():
    """Without ANSIBLE_STRATEGY_PLUGINS pointing at both folders, Ansible cannot load clusterboot_linear on
    mitogen_linear and the run fails."""
    import ansible_mitogen

    env = mitogen.strategy_env("auto")
    installed = Path(ansible_mitogen.__file__).parent / "plugins" / "strategy"
    assert env["ANSIBLE_STRATEGY_PLUGINS"].split(os.pathsep) == [str(paths.STRATEGY_PLUGINS_DIR), str(installed)]
    # What Ansible itself lists with that env (ansible.cfg's folder replaced by it): both strategies.
    ansible_doc = Path(sys.executable).parent / "ansible-doc"
    listed = subprocess.run([str(ansible_doc), "-t", "strategy", "-l"], env={**os.environ, **env},
                            capture_output=True, text=True, check=True).stdout.split()
    assert {"ansible.legacy.clusterboot_linear", "ansible.legacy.mitogen_linear"} <= set(listed)


def test_off_leaves_ansible_stock():
    assert mitogen.strategy_env("off") == {}


def test_absent_mitogen_falls_back_under_auto_and_is_named_under_on(monkeypatch):
    monkeypatch.setattr(mitogen.importlib.util, "find_spec", lambda name: None)
    assert mitogen.strategy_env("auto") == {}
    with pytest.raises(UserError, match="mitogen package is not installed.*--mitogen off"):
        mitogen.strategy_env("on")


def test_a_mitogen_without_its_strategy_plugins_counts_as_absent(monkeypatch, tmp_path):
    """An ansible_mitogen whose folder lacks plugins/strategy/mitogen_linear.py cannot run: stock Ansible is used."""
    (tmp_path / "__init__.py").touch()
    (tmp_path / "plugins" / "strategy").mkdir(parents=True)
    spec = importlib.machinery.ModuleSpec("ansible_mitogen", None, origin=str(tmp_path / "__init__.py"))
    monkeypatch.setattr(mitogen.importlib.util, "find_spec", lambda name: spec)
    assert mitogen.strategy_plugins() is None and mitogen.strategy_env("auto") == {}


def test_mitogen_ssh_reuses_a_persisted_master_per_node():
    """Mitogen's ssh must use the sockets Ansible's ssh plugin makes: ansible.cfg's control_path_dir, then %C."""
    cfg = configparser.ConfigParser()
    cfg.read(Path(__file__).resolve().parent.parent / "ansible.cfg")
    control_path_dir = cfg["ssh_connection"]["control_path_dir"]
    assert "ControlPersist=" in cfg["ssh_connection"]["ssh_args"]
    env = mitogen.strategy_env("auto")
    assert env["ANSIBLE_SSH_EXTRA_ARGS"] == f"-o ControlPath={control_path_dir}/%C"


def test_the_control_folder_is_made_private(tmp_path, monkeypatch):
    folder = tmp_path / "ssh"
    monkeypatch.setattr(mitogen, "SSH_CONTROL_DIR", folder)
    mitogen.prepare_ssh_control_dir()
    mitogen.prepare_ssh_control_dir()  # a second run finds it there
    assert folder.is_dir() and folder.stat().st_mode & 0o777 == 0o700
