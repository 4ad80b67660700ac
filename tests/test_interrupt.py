"""Ctrl-C and SIGTERM during a run: ansible-playbook is stopped, the summary says what finished and how to
rerun, and the exit code is 128 + the signal. A real ansible-playbook, a sleeping task on localhost."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parent.parent
ARGV = ["--inventory", "interrupt-test", "--phase", "nodes"]  # what the summary's rerun line repeats

PLAYBOOK = """\
- name: Warm up
  hosts: all
  gather_facts: false
  tasks:
    - name: Say hello
      ansible.builtin.debug:
        msg: hello
- name: Sleep
  hosts: all
  gather_facts: false
  tasks:
    - name: Sleep a long time
      ansible.builtin.command: sleep 60
      changed_when: false
    - name: Never reached
      ansible.builtin.debug:
        msg: unreachable
"""

# The CLI's own reporting and exit codes around runner.run, on a playbook of ours instead of site.yml.
DRIVER = """\
import sys
from pathlib import Path
from clusterboot import cli, runner
request = runner.RunRequest(inventory=Path({inventory!r}), playbook=Path({playbook!r}), label="interrupt-test")
sys.exit(cli.exit_code(lambda: cli.report(runner.run(request, {{}}), {argv!r}, [])))
"""


@pytest.fixture
def driver(tmp_path: Path) -> list[str]:
    (tmp_path / "hosts.yml").write_text("all: {hosts: {localhost: {ansible_connection: local, "
                                        "ansible_python_interpreter: '{{ ansible_playbook_python }}'}}}\n")
    (tmp_path / "sleep.yml").write_text(PLAYBOOK)
    code = DRIVER.format(inventory=str(tmp_path / "hosts.yml"),
                         playbook=str(tmp_path / "sleep.yml"), argv=ARGV)
    return [sys.executable, "-c", code]


def start_and_wait_for_sleep(cmd: list[str], env: dict[str, str] | None = None) -> tuple[subprocess.Popen, list[str]]:
    proc = subprocess.Popen(cmd, cwd=PROJECT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if "task: Sleep a long time" in line:
            time.sleep(2)  # the command is running on the host now
            return proc, lines
    pytest.fail("the sleeping task never started:\n" + "".join(lines))


def finish(proc: subprocess.Popen, lines: list[str]) -> tuple[int, str, float]:
    started = time.monotonic()
    rest, _ = proc.communicate(timeout=60)
    return proc.returncode, "".join(lines) + rest, time.monotonic() - started


@pytest.mark.parametrize("signum,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_stops_the_run_with_summary_and_rerun_line(driver, signum, code):
    proc, lines = start_and_wait_for_sleep(driver)
    proc.send_signal(signum)
    rc, out, seconds = finish(proc, lines)
    assert rc == code, out
    assert seconds < 30, f"took {seconds:.1f}s to stop:\n{out}"
    assert "Traceback" not in out, out
    assert "totals: 1 hosts" in out, out
    assert f"interrupted by {signum.name} in play 'Sleep', task 'Sleep a long time'" in out, out
    assert "finished plays: Warm up" in out, out
    assert "  python bootstrap.py --inventory interrupt-test --phase nodes\n" in out, out
    assert "note (localhost): hello" in out, out
    assert "Never reached" not in out, out
    # An interrupted run gets its timeline too (clusterboot/timeline.py), the stopped task drawn unfinished.
    page = Path(next(line for line in out.splitlines() if line.startswith("timeline: ")).split(": ", 1)[1])
    assert "Sleep a long time (no role) on localhost: unfinished" in page.read_text(), out


# ansible-playbook losing the SIGINT, as it does when the signal lands while it forks a worker (runner.Stop):
# SIGINT is back to its default, and the run goes on.
LOSE_SIGINT = """\
import signal
from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "lose_sigint"
    CALLBACK_NEEDS_ENABLED = False

    def v2_playbook_on_play_start(self, play):
        signal.signal(signal.SIGINT, lambda signum, frame: signal.signal(signum, signal.SIG_DFL))
"""

SHORT_SLEEP_THEN_LONG = """\
- name: Sleep
  hosts: all
  gather_facts: false
  tasks:
    - name: Sleep a long time
      ansible.builtin.command: sleep 4
      changed_when: false
    - name: Never reached
      ansible.builtin.command: sleep 60
      changed_when: false
"""


def test_a_ctrl_c_that_ansible_loses_is_sent_again_when_the_next_task_starts(driver, tmp_path):
    (tmp_path / "callback_plugins").mkdir()
    (tmp_path / "callback_plugins" / "lose_sigint.py").write_text(LOSE_SIGINT)
    (tmp_path / "sleep.yml").write_text(SHORT_SLEEP_THEN_LONG)
    proc, lines = start_and_wait_for_sleep(
        driver, env={**os.environ, "ANSIBLE_CALLBACK_PLUGINS": str(tmp_path / "callback_plugins")})
    proc.send_signal(signal.SIGINT)
    rc, out, seconds = finish(proc, lines)
    assert "task: Never reached" in out, out  # the first SIGINT was lost: the next task started
    assert rc == 130, out
    # Well under the 30 s grace and the 60 s sleep, with room for a loaded CI machine (13.9 s seen at load 45).
    assert seconds < 20, f"took {seconds:.1f}s to stop:\n{out}"
    assert "interrupted by SIGINT in play 'Sleep', task 'Never reached'" in out, out


def test_second_ctrl_c_stops_at_once(driver):
    proc, lines = start_and_wait_for_sleep(driver)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    rc, out, seconds = finish(proc, lines)
    assert rc == 130, out
    assert seconds < 20, f"took {seconds:.1f}s after the second Ctrl-C:\n{out}"  # not the 30 s grace
    assert "python bootstrap.py --inventory interrupt-test --phase nodes" in out, out
