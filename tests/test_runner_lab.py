"""The runner against real lab nodes: a worker lost mid-run, the summary, and the retry hint.

Black box: `python bootstrap.py` in a subprocess, its plain-text progress read line by line.
"""

import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest

from clusterboot.lab import lab

pytestmark = pytest.mark.lab

PROJECT = Path(__file__).resolve().parent.parent


def bootstrap(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "bootstrap.py", *args], cwd=PROJECT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def test_lost_worker_is_reported_and_the_retry_hint_completes_it(test_lab):
    inventory = str(test_lab.inventory_dir)
    run = bootstrap("--inventory", inventory, "--phase", "nodes")
    lines, stopped = [], False
    for line in run.stdout:
        lines.append(line)
        if line.startswith("PLAY Container runtime") and not stopped:
            subprocess.run(["docker", "stop", "-t", "1", "pytestlab-wk002"], check=True, capture_output=True)
            stopped = True
    assert run.wait(timeout=900) == 1, "".join(lines)
    output = "".join(lines)
    assert stopped, output
    assert "\x1b" not in output, "no control characters when stdout is not a terminal"
    summary = output[output.index("host  "):]
    first_row = summary.splitlines()[1]
    assert first_row.startswith("wk002"), summary  # problems first
    assert "totals: 3 hosts" in summary
    hint = next(line.strip() for line in summary.splitlines() if line.strip().startswith("python bootstrap.py"))
    assert "--limit @" in hint
    retry_file = Path(hint.split("--limit @")[1])
    assert retry_file.read_text() == "wk002\n"

    subprocess.run(["docker", "start", "pytestlab-wk002"], check=True, capture_output=True)
    deadline = time.monotonic() + 120
    while not lab._ssh_answers(test_lab, "10.215.0.13") and time.monotonic() < deadline:
        time.sleep(1)
    retry = subprocess.run([sys.executable, *shlex.split(hint)[1:]], cwd=PROJECT, capture_output=True, text=True,
                           timeout=900, check=False)
    assert retry.returncode == 0, retry.stdout[-3000:]
    rows = [line for line in retry.stdout.splitlines() if line.startswith(("cp01", "wk001", "wk002"))]
    assert [row.split()[0] for row in rows] == ["wk002"], retry.stdout


def test_single_role_rerun_touches_only_that_role(test_lab):
    proc = subprocess.run([sys.executable, "bootstrap.py", "--inventory", str(test_lab.inventory_dir), "--role",
                           "base"], cwd=PROJECT, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:]
    artifacts = Path(next(l.split("artifacts: ")[1] for l in proc.stdout.splitlines() if l.startswith("artifacts: ")))
    # One ansible-playbook writes artifacts/run/; a sharded run one such folder per process, beneath.
    stdout = "".join(p.read_text() for p in sorted(artifacts.glob("**/artifacts/run/stdout")))
    tasks = [line[len("TASK ["):].split("]")[0].split(" : ", 1) for line in stdout.splitlines()
             if line.startswith("TASK [") and " : " in line]
    # Argument-spec validation of every role is tagged always by Ansible; it changes nothing.
    real = [(role, name) for role, name in tasks if not name.startswith("Validating arguments against arg spec")]
    # One process also runs preflight's always-tagged inventory checks; a sharded run's processes run a file of
    # base's play only (bootstrap.py ran the same checks before any playbook).
    assert {role for role, _ in real} - {"preflight"} == {"base"}, real
    assert {name for role, name in real if role == "preflight"} <= {
        "Collect every inventory problem at once", "Stop on an inconsistent inventory"}


def test_a_changed_host_key_is_refused_by_name_and_the_printed_fix_recovers(test_lab):
    """wk001 gets new SSH host keys (as a reinstall would): the run refuses it by name, never accepts the new key
    silently, and says what to do; doing that (ssh-keygen -R, then ssh-keyscan) lets the rerun through."""
    new_keys = ('rm -f /etc/ssh/ssh_host_* && ssh-keygen -A >/dev/null && pkill -x sshd; '
                'systemctl restart ssh; systemctl start ssh; systemctl is-active ssh')
    assert subprocess.run(["docker", "exec", "pytestlab-wk001", "sh", "-c", new_keys], capture_output=True,
                          check=False).returncode == 0
    deadline = time.monotonic() + 60
    while subprocess.run(["ssh-keyscan", "10.215.0.12"], capture_output=True, check=False).returncode != 0:
        assert time.monotonic() < deadline, "wk001's sshd did not come back"
        time.sleep(1)
    run = [sys.executable, "bootstrap.py", "--inventory", str(test_lab.inventory_dir), "--role", "preflight"]
    refused = subprocess.run(run, cwd=PROJECT, capture_output=True, text=True, timeout=600, check=False)
    assert refused.returncode == 1, refused.stdout[-3000:]
    summary = refused.stdout[refused.stdout.index("host  "):]
    row = summary.splitlines()[1].split()
    assert row[0] == "wk001" and row[4] == "1", summary  # problems first; unreachable, not failed
    assert "refused (wk001): its SSH host key is not one known for it" in summary, summary
    subprocess.run(["ssh-keygen", "-R", "10.215.0.12", "-f", str(test_lab.known_hosts)], capture_output=True,
                   check=True)
    scanned = subprocess.run(["ssh-keyscan", "10.215.0.12"], capture_output=True, text=True, check=True).stdout
    with test_lab.known_hosts.open("a") as known:
        known.write(scanned)
    again = subprocess.run(run, cwd=PROJECT, capture_output=True, text=True, timeout=600, check=False)
    assert again.returncode == 0, again.stdout[-3000:]
