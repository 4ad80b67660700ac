"""plugins/strategy/clusterboot_linear: a task whose `when` is false is skipped, and an action that only runs in
the controller (set_fact, assert, a role's argument validation ...) is run, in ansible-playbook's main process
(no worker forked), with the same statuses, registered values and recap as Ansible's linear strategy gives.
Real ansible-playbook runs on three local hosts. On an ansible-core the levers are not tested on, a run is linear
as it is (the levers-off test), and the tests of the levers themselves skip."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from clusterboot import mitogen
from strategy_levers import LEVERS_ON, LEVERS_TESTED_ON, levers_enabled, needs_levers

PROJECT = Path(__file__).resolve().parent.parent
ANSIBLE_PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"

# A test plugin that writes the pid of the process evaluating it, then answers `false`.
RECORDING_TEST = """\
import os

def evaluated_in(value, record):
    with open(record, "a") as out:
        out.write(f"{os.getpid()}\\n")
    return False

class TestModule:
    def tests(self):
        return {"evaluated_in": evaluated_in}
"""

PLAYBOOK = """\
- name: Conditions of every kind
  hosts: all
  gather_facts: false
  handlers:
    - name: A handler that is never true
      ansible.builtin.debug:
        msg: handler ran
      when: false
  tasks:
    - name: Recorded false condition
      ansible.builtin.command: /bin/true
      changed_when: false
      when: inventory_hostname is evaluated_in(record)
    - name: False on one host only
      ansible.builtin.command: echo ran
      register: one_host
      changed_when: true
      notify: A handler that is never true
      when: inventory_hostname != 'h1'
    - name: A connection variable only the worker adds (ansible_port is not in the inventory)
      ansible.builtin.debug:
        msg: port known
      when: ansible_port is undefined
    - name: An undefined variable fails in the worker, ignored
      ansible.builtin.debug:
        msg: never
      when: no_such_variable
      # The failure is the case under test (both strategies must report it alike); the play goes on past it.
      ignore_errors: true
    - name: A false loop condition is per item
      ansible.builtin.debug:
        msg: "{{ item }}"
      loop: [1, 2]
      when: item > 1
    - name: A loop whose condition is false for every item, without naming the item
      ansible.builtin.command: /bin/true
      loop: [1, 2]
      register: looped
      when: inventory_hostname is evaluated_in(record ~ '-loop')
    - name: A loop over an empty list
      ansible.builtin.command: /bin/true
      loop: []
      register: empty_loop
    - name: An include under a false condition
      ansible.builtin.include_tasks: included.yml
      when: inventory_hostname == 'nobody'
    - name: A fact templated in the controller
      ansible.builtin.set_fact:
        templated: "{{ inventory_hostname is evaluated_in(record ~ '-action') }}"
        doubled: "{{ (inventory_hostname[-1] | int) * 2 }}"
    - name: An assert that fails on one host, ignored
      ansible.builtin.assert:
        that: doubled | int < 4
      register: asserted
      # Failing on h2 is the case under test (a failed controller action, registered); the play goes on past it.
      ignore_errors: true
    - name: Show what was registered
      ansible.builtin.debug:
        msg: "REGISTERED {{ inventory_hostname }} {{ [one_host, asserted, templated, doubled, looped, empty_loop] | to_json }}"
    - name: A role whose arguments are validated (h1's count is not a number)
      ansible.builtin.include_role:
        name: counted
"""

ARGUMENT_SPECS = """argument_specs:
  main:
    short_description: A role with one typed argument
    options:
      counted_count:
        type: int
        required: true
        description: A number.
"""

INCLUDED = """\
- name: Inside the include
  ansible.builtin.debug:
    msg: included
"""


def run(tmp_path: Path, strategy: str, env: dict[str, str] | None = None
        ) -> tuple[int, str, list[int], list[int], set[int]]:
    """rc, output, [main pid, pids that evaluated the `when`], pids that templated the set_fact, pids that
    evaluated the loop's condition."""
    record = tmp_path / f"record-{strategy}"
    proc = subprocess.Popen(
        [str(ANSIBLE_PLAYBOOK), "-i", str(tmp_path / "hosts.yml"), "-e", f"record={record}",
         str(tmp_path / "play.yml")],
        cwd=PROJECT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "ANSIBLE_CONFIG": str(PROJECT / "ansible.cfg"), "ANSIBLE_STRATEGY": strategy,
             "ANSIBLE_TEST_PLUGINS": str(tmp_path / "test_plugins"), "ANSIBLE_FORCE_COLOR": "0",
             "ANSIBLE_ROLES_PATH": str(tmp_path / "roles"),
             "ANSIBLE_CALLBACK_RESULT_FORMAT": "json", "ANSIBLE_CACHE_PLUGIN_CONNECTION": str(tmp_path / "facts"),
             **(env or {})})
    out, _ = proc.communicate(timeout=300)
    def pids(path: Path) -> list[int]:
        return [int(line) for line in path.read_text().split()] if path.exists() else []

    return (proc.returncode, out, [proc.pid] + pids(record), pids(Path(f"{record}-action")),
            set(pids(Path(f"{record}-loop"))))


def outcome(out: str) -> tuple[list[str], list[str], list[str]]:
    """What a run did, without timings or host order: per-task host statuses, registered values, the recap."""
    statuses = []
    for section in re.split(r"^(?:TASK|RUNNING HANDLER) ", out, flags=re.M)[1:]:
        statuses += sorted(f"{section.split(']')[0]}] {s} {h}" for s, h in
                           re.findall(r"^(ok|changed|skipping|fatal|failed|included): \[(\w+)\]", section, re.M))
    def untimed(value):
        return {k: v for k, v in value.items() if k not in ("start", "end", "delta")} if isinstance(value, dict) else value

    registered = sorted(json.dumps([untimed(v) for v in json.loads(m)], sort_keys=True)
                        for m in re.findall(r'"msg": "REGISTERED \w+ (.*)"$', out.replace('\\"', '"'), re.M))
    recap = re.findall(r"^h\d\s+:.*$", out, re.M)
    return statuses, registered, [re.sub(r"\s+", " ", r) for r in recap]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "hosts.yml").write_text(
        "all:\n  hosts:\n" + "".join(f"    h{i}: {{ansible_connection: local, counted_count: {'x' if i == 1 else i}, "
                                     "ansible_python_interpreter: '{{ ansible_playbook_python }}'}\n" for i in range(3)))
    (tmp_path / "roles" / "counted" / "meta").mkdir(parents=True)
    (tmp_path / "roles" / "counted" / "tasks").mkdir()
    (tmp_path / "roles" / "counted" / "meta" / "argument_specs.yml").write_text(ARGUMENT_SPECS)
    (tmp_path / "roles" / "counted" / "tasks" / "main.yml").write_text(
        "- name: Counted\n  ansible.builtin.debug:\n    msg: \"{{ counted_count }}\"\n")
    (tmp_path / "play.yml").write_text(PLAYBOOK)
    (tmp_path / "included.yml").write_text(INCLUDED)
    (tmp_path / "test_plugins").mkdir()
    (tmp_path / "test_plugins" / "recording.py").write_text(RECORDING_TEST)
    return tmp_path


@needs_levers
def test_false_conditions_and_controller_actions_run_in_the_main_process_with_linears_results(project: Path):
    rc_linear, out_linear, (_, *linear_pids), linear_action_pids, linear_loop_pids = run(project, "linear")
    rc_ours, out_ours, (main_pid, *our_pids), our_action_pids, our_loop_pids = run(project, "clusterboot_linear")
    assert rc_linear == rc_ours == 2, out_ours  # h1's role arguments
    statuses, registered, recap = outcome(out_ours)
    assert (statuses, registered, recap) == outcome(out_linear)
    assert "[Recorded false condition] skipping h0" in statuses
    assert "[False on one host only] skipping h1" in statuses and "[False on one host only] changed h0" in statuses
    assert "[A handler that is never true] skipping h2" in statuses
    assert "[An assert that fails on one host, ignored] fatal h2" in statuses
    assert "[counted : Validating arguments against arg spec 'main' - A role with one typed argument] fatal h1" in statuses
    assert "[counted : Counted] ok h2" in statuses
    assert "[A loop whose condition is false for every item, without naming the item] skipping h0" in statuses
    assert "[A loop over an empty list] skipping h1" in statuses
    assert "[A false loop condition is per item] ok h2" in statuses
    assert len(registered) == 3 and any('"skipped": true' in r for r in registered)
    assert all('"msg": "All items skipped"' in r and '"skipped_reason": "No items in the list"' in r
               for r in registered)
    assert any("false, 4, {" in r and '"failed": true' in r for r in registered)
    assert any(line.startswith("h1 ") and "failed=1" in line for line in recap)
    assert any(line.startswith("h2 ") and "ignored=2" in line for line in recap)
    # linear forked a worker per host to find the condition false; ours evaluated it in ansible-playbook itself
    assert len(linear_pids) == 3 and main_pid not in linear_pids
    assert our_pids == [main_pid] * 3
    assert len(linear_action_pids) == 3 and main_pid not in linear_action_pids
    assert our_action_pids == [main_pid] * 3
    assert len(linear_loop_pids) == 3 and main_pid not in linear_loop_pids
    assert our_loop_pids == {main_pid}


@pytest.mark.skipif(mitogen.strategy_plugins() is None, reason="Mitogen is not installed")
def test_on_mitogen_the_skip_is_the_same(project: Path):
    """Mitogen's linear with the project's strategy on it gives Mitogen's results: with the levers, the conditions
    and set_fact evaluated in the main process; without them (an untested ansible-core), in Mitogen's workers."""
    env = mitogen.strategy_env("on")
    rc_base, out_base, *_ = run(project, "mitogen_linear", env)
    rc_ours, out_ours, (main_pid, *our_pids), our_action_pids, our_loop_pids = run(project, "clusterboot_linear", env)
    assert rc_base == rc_ours == 2, out_ours
    assert outcome(out_ours) == outcome(out_base)
    if LEVERS_ON:
        assert our_pids == our_action_pids == [main_pid] * 3 and our_loop_pids == {main_pid}
    else:
        assert len(our_pids) == len(our_action_pids) == 3 and main_pid not in our_pids + our_action_pids
        assert "clusterboot_linear: the speed levers are off" in out_ours and "running mitogen_linear" in out_ours


@needs_levers
def test_controller_actions_off_forks_workers_for_them_and_still_skips_in_the_main_process(project: Path):
    rc, out, (main_pid, *condition_pids), action_pids, loop_pids = run(
        project, "clusterboot_linear", {"CLUSTERBOOT_CONTROLLER_ACTIONS": "off"})
    assert rc == 2, out
    assert condition_pids == [main_pid] * 3 and loop_pids == {main_pid}
    assert len(action_pids) == 3 and main_pid not in action_pids


def test_levers_off_is_linear_as_it_is_after_a_notice(project: Path):
    """CLUSTERBOOT_LEVERS=off, or with nothing set an ansible-core the levers are not tested on: no private API is
    touched, a worker is forked for every task-host as linear does, and the run says so once, on stderr (a JSON
    stdout callback's output stays JSON)."""
    rc_linear, out_linear, *_ = run(project, "linear")
    rc, out, (main_pid, *condition_pids), action_pids, loop_pids = run(
        project, "clusterboot_linear", {"CLUSTERBOOT_LEVERS": "off"} if LEVERS_ON else {})
    assert rc == rc_linear == 2, out
    assert outcome(out) == outcome(out_linear)
    assert len(condition_pids) == 3 and main_pid not in condition_pids
    assert len(action_pids) == 3 and main_pid not in action_pids
    assert out.count("clusterboot_linear: the speed levers are off") == 1, out


def test_the_levers_switch_on_only_for_the_ansible_core_minors_they_are_tested_on():
    tested = LEVERS_TESTED_ON[0]
    assert levers_enabled(f"{tested}.14", {})
    assert not levers_enabled(f"{tested}.14", {"CLUSTERBOOT_LEVERS": "off"})
    assert not levers_enabled("2.21.5", {})
    assert not levers_enabled("2.190.0", {})


BROKEN_TEMPLATE = """\
- name: A syntax error in a module argument
  hosts: all
  gather_facts: false
  tasks:
    - name: Broken argument, compiled ahead in the main process
      ansible.builtin.command:
        cmd: "echo {{ x > }}"
      # Failing on every host is the case under test; the play goes on past it.
      ignore_errors: true
    - name: After it
      ansible.builtin.command: echo after
      changed_when: false
"""


@needs_levers
def test_a_template_compiled_ahead_with_a_syntax_error_is_reported_by_the_worker_as_linear_does(project: Path):
    (project / "play.yml").write_text(BROKEN_TEMPLATE)
    rc_linear, out_linear, *_ = run(project, "linear")
    rc_ours, out_ours, *_ = run(project, "clusterboot_linear")
    assert rc_linear == rc_ours == 0, out_ours
    assert outcome(out_ours) == outcome(out_linear)
    assert "Syntax error in template" in out_ours and "[After it] ok h2" in outcome(out_ours)[0]
