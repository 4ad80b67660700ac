"""cluster_ara_record: ARA's own callback records every ansible-playbook the runner starts, in ARA's own database.

Real runs of `python bootstrap.py render` (a playbook on the controller, no node contacted) with ARA_BASE_DIR in a
temporary folder; what ARA recorded is read back with ARA's own CLI, as an operator would. Inventories use
documentation addresses (10.20.0.0/24) that are never dialled.
"""

import configparser
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from clusterboot import ara_record
from clusterboot.inventory_writer import InventorySpec, write_inventory
from run_folders import marked_env, started_by

PROJECT = Path(__file__).resolve().parent.parent
ARTIFACTS = PROJECT / ".artifacts"
ARA = str(Path(sys.executable).parent / "ara")
# The newest-ansible lock (tests/newest_ansible.py) has neither ARA nor pyspark, which every run passes on.
needs_ara_and_pyspark = pytest.mark.skipif(
    importlib.util.find_spec("ara") is None or importlib.util.find_spec("pyspark") is None,
    reason="ara or pyspark is not installed (requirements-ansible-next.lock leaves both out)")
RESULT_EVENTS = {"runner_on_ok", "runner_on_failed", "runner_on_skipped", "runner_on_unreachable"}

# bootstrap.py in a Python that cannot import ara (an operator who set cluster_ara_record without installing it).
WITHOUT_ARA = """\
import runpy, sys
sys.modules["ara"] = None  # `import ara...` now raises ImportError, as where ara is not installed
sys.argv = ["bootstrap.py", *sys.argv[1:]]
runpy.run_path("bootstrap.py", run_name="__main__")
"""


@pytest.fixture
def inventory(tmp_path: Path):
    spec = InventorySpec(name="aratest", node_network="10.20.0.0/24", first_ip="10.20.0.11", control_planes=1,
                         workers=1)
    yield write_inventory(spec, tmp_path / "aratest")
    shutil.rmtree(ARTIFACTS / "rendered" / "aratest", ignore_errors=True)


def record(inventory: Path) -> None:
    with (inventory / "group_vars" / "all.yml").open("a") as all_yml:
        all_yml.write("cluster_ara_record: true\n")


def ara_env(base: Path) -> dict[str, str]:
    """The environment of the test's run and of ARA's CLI: ARA's defaults (the offline client, SQLite) in `base`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARA_")}
    return {**env, "ARA_BASE_DIR": str(base)}


def render(inventory: Path, env: dict[str, str], python: list[str] | None = None) -> subprocess.CompletedProcess:
    command = [*(python or [sys.executable, "bootstrap.py"]), "render", "--inventory", str(inventory), "-q"]
    return subprocess.run(command, cwd=PROJECT, env=env, capture_output=True, text=True, timeout=600, check=False)


def ara(env: dict[str, str], *args: str) -> list[dict]:
    proc = subprocess.run([ARA, *args, "-f", "json"], env=env, capture_output=True, text=True, timeout=120,
                          check=True)
    return json.loads(proc.stdout)


def result_events(artifacts: Path) -> int:
    """The task results of the run as ansible-runner saw them: one per task and host."""
    events = (json.loads(f.read_text()) for f in artifacts.rglob("job_events/*.json"))
    return sum(event.get("event") in RESULT_EVENTS for event in events)


@needs_ara_and_pyspark
def test_a_run_is_recorded_in_aras_database(inventory, tmp_path):
    record(inventory)
    base = tmp_path / "ara"
    env = ara_env(base)
    proc = render(inventory, env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"ara: recorded in {base / 'ansible.sqlite'}; see it with `ara playbook list` or `ara-manage runserver`" \
        in proc.stdout.splitlines(), proc.stdout
    assert (base / "ansible.sqlite").is_file()  # ARA's default database, where ARA_BASE_DIR says
    (playbook,) = ara(env, "playbook", "list", "--long")  # without --long ARA cuts paths to 50 characters
    assert playbook["path"] == str(PROJECT / "playbooks" / "render.yml") and playbook["status"] == "completed"
    tasks = {task["name"] for task in ara(env, "task", "list", "--playbook", str(playbook["id"]), "--limit", "1000")}
    assert {"Render the kubeadm config", "Render the Calico Installation"} <= tasks, tasks
    results = ara(env, "result", "list", "--playbook", str(playbook["id"]), "--limit", "1000")
    artifacts = Path(next(line for line in proc.stdout.splitlines() if line.startswith("artifacts: ")).split(": ")[1])
    # Every task result of the run, each on the one host render runs on.
    assert len(results) == playbook["results"] == result_events(artifacts) > 0, (len(results), playbook)
    assert {r["status"] for r in results} <= {"ok", "changed", "skipped"}, results
    assert [host["name"] for host in ara(env, "host", "list", "--playbook", str(playbook["id"]))] == ["cp01"]


@needs_ara_and_pyspark
def test_without_the_setting_nothing_is_recorded(inventory, tmp_path):
    base = tmp_path / "ara"
    proc = render(inventory, ara_env(base))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "ara:" not in proc.stdout, proc.stdout
    assert not base.exists()  # ARA's callback makes it as soon as it is loaded


@needs_ara_and_pyspark
def test_the_setting_without_ara_installed_is_refused_before_any_run(inventory, tmp_path):
    record(inventory)
    base = tmp_path / "ara"
    env, mark = marked_env(ara_env(base))
    proc = render(inventory, env, python=[sys.executable, "-c", WITHOUT_ARA])
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr == (f"error: inventory aratest: cluster_ara_record is true but ARA is not installed in this "
                           f"Python; run `{sys.executable} -m pip install \"ara[server]\"` or set "
                           "cluster_ara_record: false\n"), proc.stderr
    assert not started_by(mark) and not base.exists()  # no playbook was started


@needs_ara_and_pyspark
def test_aras_callback_is_added_to_the_callbacks_already_named():
    folder = subprocess.run([sys.executable, "-m", "ara.setup.callback_plugins"], capture_output=True, text=True,
                            check=True).stdout.strip()  # ARA's documented way to find it
    assert ara_record.callback_env({}) == {"ANSIBLE_CALLBACK_PLUGINS": folder,
                                           "ANSIBLE_CALLBACKS_ENABLED": "ara_default"}
    assert ara_record.callback_env({"ANSIBLE_CALLBACK_PLUGINS": f"/mine{os.pathsep}/theirs",
                                    "ANSIBLE_CALLBACKS_ENABLED": "profile_tasks,ara_default"}) == {
        "ANSIBLE_CALLBACK_PLUGINS": f"/mine{os.pathsep}/theirs{os.pathsep}{folder}",
        "ANSIBLE_CALLBACKS_ENABLED": "profile_tasks,ara_default"}
    # The environment replaces ansible.cfg's values: the project's ansible.cfg must name none for it to keep.
    cfg = configparser.ConfigParser()
    cfg.read(PROJECT / "ansible.cfg")
    assert not {"callbacks_enabled", "callback_whitelist", "callback_plugins"} & set(cfg["defaults"])


def test_the_summary_line_follows_aras_own_settings():
    """ARA's defaults (SQLite under ~/.ara/server), ARA_BASE_DIR, or an API server the operator's environment names."""
    assert ara_record.where({}).startswith(f"ara: recorded in {Path.home() / '.ara' / 'server' / 'ansible.sqlite'};")
    assert ara_record.where({"ARA_BASE_DIR": "/srv/ara"}).startswith("ara: recorded in /srv/ara/ansible.sqlite;")
    assert ara_record.where({"ARA_API_CLIENT": "http", "ARA_API_SERVER": "https://ara.example:8443"}) == (
        "ara: recorded by the ARA API server https://ara.example:8443; see it there or with `ara playbook list`")
