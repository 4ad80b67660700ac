"""The end-of-run report: problem hosts first, totals, and a retry command limited to the failed hosts."""

import pytest

from clusterboot import summary
from clusterboot.summary import render
from clusterboot.progress import HostResult, RunState


def state_with(**hosts: HostResult) -> RunState:
    state = RunState()
    state.hosts.update(hosts)
    return state


def test_retry_command_replaces_any_limit_and_keeps_everything_else(tmp_path):
    retry = tmp_path / "retry.txt"
    argv = ["--inventory", "lab100", "--limit", "wk001", "--phase", "nodes", "-l", "x", "--limit=wk002", "--diff"]
    assert summary.retry_command(argv, retry) == (
        f"python bootstrap.py --inventory lab100 --phase nodes --diff --limit @{retry}")
    assert summary.retry_command(["--inventory", "my lab"], retry) == (
        f"python bootstrap.py --inventory 'my lab' --limit @{retry}")


def test_failed_and_unreachable_hosts_are_retried_in_name_order(tmp_path):
    state = state_with(wk002=HostResult(ok=3, failed=1), cp01=HostResult(ok=5), wk001=HostResult(unreachable=1))
    assert summary.failed_hosts(state) == ["wk001", "wk002"]
    path = summary.write_retry_file(state, tmp_path)
    assert path == tmp_path / "retry.txt" and path.read_text() == "wk001\nwk002\n"
    assert summary.write_retry_file(state_with(cp01=HostResult(ok=1)), tmp_path / "none") is None


def test_report_lists_problem_hosts_first_with_their_task_then_totals(tmp_path):
    state = state_with(
        cp01=HostResult(ok=5, changed=2, skipped=1),
        wk002=HostResult(ok=3, failed=1, failed_task="Join", message="token expired"),
        wk001=HostResult(ok=1, unreachable=1, failed_task="Gathering Facts", message="no route"),
    )
    lines = summary.render(state, tmp_path, ["--inventory", "lab100"], rc=2).splitlines()
    assert lines[0].split() == ["host", "ok", "changed", "failed", "unreach", "skipped", "failing", "task:", "message"]
    assert lines[1] == f"{'wk001':14} {1:5} {0:7} {0:6} {1:7} {0:7}  Gathering Facts: no route"
    assert lines[2] == f"{'wk002':14} {3:5} {0:7} {1:6} {0:7} {0:7}  Join: token expired"
    assert lines[3] == f"{'cp01':14} {5:5} {2:7} {0:6} {0:7} {1:7}"  # no failing task for a good host
    assert lines[4] == "totals: 3 hosts, ok=9 changed=2 failed=1 unreachable=1 skipped=1"
    assert lines[5] == f"artifacts: {tmp_path}"
    assert lines[6] == "2 host(s) did not finish; after fixing them, retry only those:"
    assert lines[7] == f"  python bootstrap.py --inventory lab100 --limit @{tmp_path / 'retry.txt'}"
    assert len(lines) == 8


def test_a_run_stopped_before_its_last_plays_asks_for_the_whole_command_again(tmp_path):
    """Every worker unreachable in the join play: Ansible ends the run there, and the pod network play never ran
    on cp01, which did not fail. A retry of wk001 alone would leave it undone."""
    state = state_with(cp01=HostResult(ok=40), wk001=HostResult(ok=20, unreachable=1, failed_task="Run kubeadm join"))
    state.plays = ["Kubernetes artifacts", "Control plane", "Join the nodes"]
    argv = ["--inventory", "lab", "--phase", "kubernetes", "--limit", "wk001"]
    planned = state.plays + ["Pod network"]
    lines = summary.render(state, tmp_path, argv, rc=4, planned_plays=planned).splitlines()
    assert lines[-2] == ("1 host(s) did not finish, and the run stopped before play 'Pod network'; after fixing them, "
                         "run the whole command again:")
    assert lines[-1] == "  python bootstrap.py --inventory lab --phase kubernetes --limit wk001"
    assert (tmp_path / "retry.txt").read_text() == "wk001\n"  # still written, for a look at who failed
    # Every planned play started: the retry of the failed hosts is enough.
    state.plays = planned
    assert summary.render(state, tmp_path, argv, rc=4, planned_plays=planned).splitlines()[-1] == (
        f"  python bootstrap.py --inventory lab --phase kubernetes --limit @{tmp_path / 'retry.txt'}")


def test_report_of_a_run_that_failed_before_any_host(tmp_path):
    state = state_with(cp01=HostResult(ok=1))
    failed = summary.render(state, tmp_path, [], rc=4).splitlines()
    assert failed[-1] == "the run failed before any host reported a failure; see the artifacts' stdout"
    assert not (tmp_path / "retry.txt").exists()
    assert summary.render(state, tmp_path, [], rc=0).splitlines()[-1] == f"artifacts: {tmp_path}"


@pytest.mark.parametrize("message", [
    "Task failed: Host key checking is enabled, and SSH reported an unrecognized or mismatching host key.",
    "Data could not be sent to remote host \"10.0.0.12\". @ WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED! @",
])
def test_a_changed_host_key_is_refused_by_name_with_what_to_do(message, tmp_path):
    state = RunState()
    state.apply({"event": "playbook_on_task_start", "event_data": {"task": "Gather the facts the checks need"}})
    state.apply({"event": "runner_on_unreachable", "event_data": {"host": "wk001", "res": {"msg": message}}})
    state.apply({"event": "runner_on_ok", "event_data": {"host": "cp01", "res": {}}})
    text = render(state, tmp_path, ["--inventory", "lab"], 4)
    assert "refused (wk001): its SSH host key is not one known for it" in text
    assert "ssh-keygen -R ADDRESS, then ssh-keyscan ADDRESS >> KNOWN_HOSTS" in text
    assert "refused (" not in render(RunState(), tmp_path, ["--inventory", "lab"], 0)


def interrupted_report(tmp_path, plays: list[str], task: str, signum: int) -> list[str]:
    """The report of a run stopped by a signal after these plays started and, in the last, this task."""
    state = state_with(cp01=HostResult(ok=4))
    for play in plays:
        state.apply({"event": "playbook_on_play_start", "event_data": {"play": play}})
    if task:
        state.apply({"event": "playbook_on_task_start", "event_data": {"task": task}})
    return summary.render(state, tmp_path, ["--inventory", "lab"], rc=254, interrupted=signum).splitlines()


def test_an_interrupted_report_names_where_it_stopped_and_which_plays_finished(tmp_path):
    lines = interrupted_report(tmp_path, ["Validate", "OS base", "Container runtime"], "Install containerd", 15)
    assert lines[-4:] == [
        "interrupted by SIGTERM in play 'Container runtime', task 'Install containerd'",
        "finished plays: Validate, OS base",  # every play but the one it stopped in
        "nodes may be part-way through that task; rerunning the same command finishes it:",
        "  python bootstrap.py --inventory lab",
    ]
    assert not (tmp_path / "retry.txt").exists()  # no retry of failed hosts: the whole command finishes the run


def test_an_interrupted_report_before_any_task_or_play_says_so(tmp_path):
    # Stopped in the first play before its first task: no task to name, and no play finished.
    assert interrupted_report(tmp_path, ["Validate"], "", 2)[-4:-2] == [
        "interrupted by SIGINT in play 'Validate'", "finished plays: none"]
    assert interrupted_report(tmp_path, [], "", 2)[-4:-2] == [
        "interrupted by SIGINT before the first play", "finished plays: none"]


@pytest.mark.parametrize("count,named", [
    (1, "wk001"),
    (3, "wk001, wk002, wk003"),
    (4, "wk001, wk002, wk003 and 1 more"),
    (12, "wk001, wk002, wk003 and 9 more"),
])
def test_a_note_names_at_most_three_hosts_and_counts_the_rest(tmp_path, count, named):
    state = RunState()
    for n in range(1, count + 1):
        state.apply({"event": "runner_on_ok", "event_data": {"host": f"wk{n:03}", "task_action": "ansible.builtin.debug",
                                                             "res": {"msg": "swap is on"}}})
    assert f"note ({named}): swap is on" in summary.render(state, tmp_path, [], rc=0).splitlines()


def test_a_run_stopped_before_several_plays_counts_them_and_names_the_first(tmp_path):
    state = state_with(cp01=HostResult(ok=9, failed=1, failed_task="Run kubeadm init", message="port in use"))
    state.plays = ["Kubernetes artifacts", "Control plane"]
    planned = state.plays + ["Join the nodes", "Pod network", "Storage"]
    lines = summary.render(state, tmp_path, ["--inventory", "lab"], rc=2, planned_plays=planned).splitlines()
    assert lines[-2:] == [
        "1 host(s) did not finish, and the run stopped before 3 plays ('Join the nodes', ...); after fixing them, "
        "run the whole command again:",
        "  python bootstrap.py --inventory lab",
    ]
