"""Day-2 subcommands: arguments, refusals and the confirmation before anything runs, and one real run
(`render`, which contacts no node) through the runner with its summary and exit code.

The refusals run the real `python bootstrap.py` in a subprocess; inventories use documentation addresses
(10.20.0.0/24) that are never dialled.
"""

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from clusterboot import cli, day2, settings
from clusterboot.errors import UserError
from clusterboot.inventory_writer import InventorySpec, write_inventory
from run_folders import marked_env, started_by

PROJECT = Path(__file__).resolve().parent.parent
ARTIFACTS = PROJECT / ".artifacts"


def bootstrap(*args: str, stdin: str = "", env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "bootstrap.py", *args], cwd=PROJECT, env=env, capture_output=True,
                          text=True, input=stdin, timeout=300, check=False)


@pytest.fixture
def inventory(tmp_path: Path) -> Path:
    spec = InventorySpec(name="daytwo", node_network="10.20.0.0/24", first_ip="10.20.0.11", control_planes=1,
                         workers=2)
    return write_inventory(spec, tmp_path / "daytwo")


@pytest.mark.parametrize("argv,refusal", [
    (["remove-node", "wk009", "--yes"], "'wk009' is not a host of group workers"),
    (["remove-node", "cp01", "--yes"], "'cp01' is not a host of group workers"),
    (["reset"], "run it again with --yes"),          # no terminal to ask on: refused, not assumed
    (["certs", "--renew"], "this renews every kubeadm certificate"),
    (["certs", "--renew", "--check", "--yes"], "a renewal cannot be rehearsed"),
    (["backup", "--check"], "backup --check: a backup changes nothing on the nodes"),
    # Its versions are read from the cluster first (tests/test_upgrade_path.py): this one was never formed.
    (["upgrade", "--yes"], "upgrade: no admin kubeconfig at"),
])
def test_refused_before_any_run(inventory, argv, refusal):
    env, mark = marked_env()
    proc = bootstrap(*argv, "--inventory", str(inventory), env=env)
    assert proc.returncode == 2 and refusal in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr and not started_by(mark)  # no playbook was started


def test_restore_refuses_another_clusters_snapshot_a_partial_run_and_a_rehearsal(inventory, tmp_path):
    snapshot = tmp_path / "etcd-20261207T120000Z.db"
    snapshot.write_bytes(b"an etcd snapshot")
    snapshot.with_suffix(".json").write_text('{"cluster": "other", "sha256": "0", "kubernetes_version": "1.36.5", '
                                             '"ca_fingerprint": "0", "taken": "20261207T120000Z"}')
    env, mark = marked_env()
    for extra, refusal in (((), "is a snapshot of cluster 'other', not of 'daytwo'"),
                           (("--limit", "cp01"), "restore --limit: a restore replaces etcd's data on every"),
                           (("--check", "--yes"), "restore --check: a restore cannot be rehearsed")):
        proc = bootstrap("restore", str(snapshot), "--inventory", str(inventory), *extra, env=env)
        assert proc.returncode == 2 and refusal in proc.stderr, proc.stderr
    assert not started_by(mark)


def test_no_inventory_and_a_missing_node_are_usage_errors():
    assert bootstrap("verify").returncode == 2 and "verify --inventory NAME" in bootstrap("verify").stderr
    proc = bootstrap("remove-node", "--inventory", "lab100")
    assert proc.returncode == 2 and "node" in proc.stderr  # argparse: the positional NODE is required


def test_confirmation_needs_a_typed_yes():
    day2.confirm("resets the cluster", assume_yes=False, ask=lambda _: "yes", interactive=lambda: True)
    day2.confirm("resets the cluster", assume_yes=True, ask=lambda _: "", interactive=lambda: False)
    for answer in ("", "y", "no", "YES please"):
        with pytest.raises(UserError, match="not confirmed; nothing was changed"):
            day2.confirm("resets the cluster", assume_yes=False, ask=lambda _, a=answer: a, interactive=lambda: True)


def test_run_options_before_or_after_the_command():
    parser = cli.build_parser()
    after = parser.parse_args(["render", "--inventory", "lab100", "-q", "--limit", "cp01", "-vv"])
    assert (after.inventory, after.quiet, after.limit, after.verbose) == ("lab100", True, "cp01", 2)
    before = parser.parse_args(["-q", "--limit", "cp01", "--inventory", "lab100", "verify"])
    assert (before.inventory, before.quiet, before.limit, before.mitogen) == ("lab100", True, "cp01", "auto")
    # The summary's retry line puts --limit after the command: that must parse too.
    assert parser.parse_args(["scale", "-i", "lab100", "--limit", "@retry.txt"]).limit == "@retry.txt"


def test_every_operation_has_its_playbook_and_host_counts():
    for operation in day2.OPERATIONS.values():
        assert (PROJECT / "playbooks" / operation.playbook).is_file()
    groups = {"all": ["cp01", "cp02", "wk001"], "control_plane": ["cp01", "cp02"], "workers": ["wk001"]}
    assert [day2.host_count(p, groups) for p in ("workers", "control_plane[0]", "control_plane[1:]", "cp01",
                                                 "new_workers", "localhost")] == [1, 1, 1, 1, 0, 0]


def test_comments_name_commands_that_exist():
    """A comment or the README that says `python bootstrap.py COMMAND` names a real subcommand."""
    commands = set(cli.build_parser()._subparsers._group_actions[0].choices)
    files = [*PROJECT.glob("playbooks/*.yml"), *PROJECT.glob("roles/*/*/*.yml"), *PROJECT.glob("clusterboot/**/*.py"),
             PROJECT / "README.md"]
    named = {m for f in files for m in re.findall(r"(?:python |`)bootstrap\.py ([a-z][a-z-]+)", f.read_text())}
    assert {"backup", "certs", "render", "remove-node", "reset", "restore", "scale", "upgrade", "verify"} <= named <= commands, named - commands


# Every run passes the controller's pyspark version (requirements.txt installs it); the newest-ansible lock
# (tests/newest_ansible.py) leaves the 400 MB sdist out.
@pytest.mark.skipif(importlib.util.find_spec("pyspark") is None,
                    reason="pyspark is not installed (requirements-ansible-next.lock leaves it out)")
def test_render_runs_through_the_runner(inventory):
    """A real run: the summary, exit 0, and the files, with the Kubernetes version from the declared default
    (the inventory does not set one: the vars plugin supplies it, as it does for every play)."""
    all_yml = inventory / "group_vars" / "all.yml"
    all_yml.write_text("".join(line for line in all_yml.read_text().splitlines(keepends=True)
                               if not line.startswith("cluster_kubernetes_version:")))
    rendered = ARTIFACTS / "rendered" / "daytwo"
    proc = bootstrap("render", "--inventory", str(inventory), "-q")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert re.search(r"totals: 1 hosts, ok=\d+ changed=\d+ failed=0", proc.stdout)
    assert "-render" in proc.stdout  # the run's artifacts folder, labelled with the command
    kubeadm = list(yaml.safe_load_all((rendered / "kubeadm-config.yaml").read_text()))
    cluster_config = next(d for d in kubeadm if d["kind"] == "ClusterConfiguration")
    assert cluster_config["kubernetesVersion"] == f"v{settings.declared_defaults()['cluster_kubernetes_version']}"
    assert (rendered / "calico-installation.yaml").is_file() and (rendered / "spark-namespace.yaml").is_file()


def test_the_installed_command_is_the_same_cli():
    """`pip install -e .` (./dev) puts a `clusterboot` command beside this Python: the CLI of bootstrap.py."""
    command = Path(sys.executable).parent / "clusterboot"
    proc = subprocess.run([str(command), "inventory", "check", "--inventory", "lab100"], capture_output=True,
                          text=True, cwd="/", timeout=120, check=False)  # from any folder
    assert proc.returncode == 0 and "inventory lab100: 100 nodes, no problems found" in proc.stdout, proc.stderr
