"""A sharded run against real lab nodes: the same results and idempotence as one ansible-playbook, and one
summary, retry command and exit status when nodes in both shards fail.

4 nodes, 2 shards: base and container runtime run as two processes (cp01, wk001 | wk002, wk003).
"""

import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from clusterboot.lab import lab

pytestmark = pytest.mark.lab

PROJECT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def shard_lab(tmp_path_factory):
    cfg = lab.LabConfig(project_dir=PROJECT, name="shardtest", subnet="10.230.4.0/24",
                        inventory_root=tmp_path_factory.mktemp("inventory"))
    lab.up(cfg, nodes=4, control_planes=1, spark_manager="standalone", log=lambda _: None)
    yield cfg
    lab.down(cfg, log=lambda _: None)


def bootstrap(cfg: lab.LabConfig, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "bootstrap.py", "--inventory", str(cfg.inventory_dir), *args], cwd=PROJECT,
                          capture_output=True, text=True, timeout=1800, check=False)


def artifacts_of(output: str) -> Path:
    return Path(next(line.split("artifacts: ")[1] for line in output.splitlines() if line.startswith("artifacts: ")))


def rows(output: str) -> dict[str, list[str]]:
    return {line.split()[0]: line.split() for line in output.splitlines() if line.startswith(("cp01 ", "wk00"))}


def test_sharded_converge_then_rerun_changes_nothing(shard_lab):
    first = bootstrap(shard_lab, "--phase", "nodes", "--shards", "2")
    assert first.returncode == 0, first.stdout[-3000:]
    commands = (artifacts_of(first.stdout) / "commands.txt").read_text().splitlines()
    assert [c.split("--limit ")[1].split()[0] for c in commands if "--limit" in c] == ["cp01,wk001", "wk002,wk003"]
    assert len(commands) == 4  # preflight + package cache; the two shards; the registry
    assert set(rows(first.stdout)) == {"cp01", "wk001", "wk002", "wk003"}
    assert all(int(row[2]) > 0 for row in rows(first.stdout).values())  # every node was changed
    assert first.stdout.count("PLAY OS base") == 1  # one run to the operator: each play announced once

    again = bootstrap(shard_lab, "--phase", "nodes", "--shards", "2", "-q")
    assert again.returncode == 0, again.stdout[-3000:]
    assert "changed=0 failed=0" in again.stdout, again.stdout[-3000:]

    single = bootstrap(shard_lab, "--phase", "nodes", "--shards", "1", "-q")
    assert single.returncode == 0 and "changed=0 failed=0" in single.stdout, single.stdout[-3000:]
    assert not (artifacts_of(single.stdout) / "commands.txt").exists()  # one ansible-playbook, as before


def test_failures_in_both_shards_give_one_retry_command_naming_both(shard_lab):
    """/etc/fstab made a folder on wk001 (shard 1) and wk003 (shard 2): base fails there, the other nodes go on
    to the registry, the run exits 1 and one retry command names exactly those two; once fixed, it completes."""
    broken = ("wk001", "wk003")
    for node in broken:
        subprocess.run(["docker", "exec", f"shardtest-{node}", "sh", "-c", "mv /etc/fstab /etc/fstab.kept && mkdir /etc/fstab"],
                       check=True)
    try:
        run = bootstrap(shard_lab, "--phase", "nodes", "--shards", "2")
    finally:
        for node in broken:
            subprocess.run(["docker", "exec", f"shardtest-{node}", "sh", "-c",
                            "rmdir /etc/fstab && mv /etc/fstab.kept /etc/fstab"], check=True)
    assert run.returncode == 1, run.stdout[-3000:]
    table = rows(run.stdout)
    assert [name for name in table][:2] == ["wk001", "wk003"], run.stdout[-3000:]  # problems first
    assert all("Keep swap off after reboot (fstab)" in " ".join(table[n]) for n in broken)
    hints = [line.strip() for line in run.stdout.splitlines() if line.strip().startswith("python bootstrap.py")]
    assert len(hints) == 1, run.stdout[-3000:]
    retry_file = Path(hints[0].split("--limit @")[1])
    assert retry_file.read_text() == "wk001\nwk003\n"
    # The registry step ran after the sharded one, on the nodes that had not failed only.
    registry = [c for c in (artifacts_of(run.stdout) / "commands.txt").read_text().splitlines() if "registry" in c]
    assert registry and "--limit all,!wk001,!wk003" in registry[0]

    retry = subprocess.run([sys.executable, *shlex.split(hints[0])[1:]], cwd=PROJECT, capture_output=True, text=True,
                           timeout=1800, check=False)
    assert retry.returncode == 0, retry.stdout[-3000:]
    assert set(rows(retry.stdout)) == set(broken), retry.stdout[-3000:]
