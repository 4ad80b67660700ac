"""The run timeline (clusterboot/timeline.py) from synthetic job_events in ansible-runner's shape, and the
`report` command. No ansible-playbook, no lab: each test writes the event files it needs."""

from __future__ import annotations

import datetime
import json
import uuid
from html.parser import HTMLParser
from pathlib import Path

import pytest

from clusterboot import cli, runner, summary, timeline
from clusterboot.progress import RunState

T0 = datetime.datetime(2026, 12, 7, 12, 0, tzinfo=datetime.timezone.utc)
CENSORED = "the output has been hidden due to the fact that 'no_log: true' was specified for this result"


class Events:
    """Writes a job_events folder as ansible-runner does: one `<counter>-<uuid>.json` per event."""

    def __init__(self, private_dir: Path) -> None:
        self.folder = private_dir / "artifacts" / "run" / "job_events"
        self.folder.mkdir(parents=True)
        self.counter = 0
        self.task_uuids: dict[tuple[str, str], str] = {}

    def emit(self, kind: str, at: float, data: dict | None = None) -> None:
        self.counter += 1
        event_uuid = str(uuid.uuid4())
        event = {"uuid": event_uuid, "counter": self.counter, "stdout": "", "runner_ident": "run", "event": kind,
                 "created": (T0 + datetime.timedelta(seconds=at)).isoformat()}
        if data is not None:
            event["event_data"] = data
        (self.folder / f"{self.counter}-{event_uuid}.json").write_text(json.dumps(event))

    def play(self, name: str, at: float) -> None:
        self.emit("playbook_on_play_start", at, {"name": name, "play": name, "pattern": "all"})

    def task(self, host: str, task: str, role: str, start: float, end: float, kind: str = "runner_on_ok",
             res: dict | None = None, **extra: object) -> None:
        """runner_on_start at `start`, then the result at `end` (seconds after T0)."""
        task_uuid = self.task_uuids.setdefault((task, role), str(uuid.uuid4()))
        data = {"play": "Play", "role": role, "task": task, "task_uuid": task_uuid, "host": host,
                "task_action": "ansible.builtin.command"}
        self.emit("runner_on_start", start, data)
        stamps = {"start": (T0 + datetime.timedelta(seconds=start)).isoformat(),
                  "end": (T0 + datetime.timedelta(seconds=end)).isoformat(), "duration": end - start}
        result = {**data, **({} if kind == "runner_on_skipped" else {"res": res or {"changed": False}}),
                  **stamps, **extra}
        self.emit(kind, end, result)


class Page(HTMLParser):
    """The chart's rectangles (class, x, y, title) and row labels, and every table's rows."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.rects: list[dict] = []
        self.labels: list[str] = []
        self.tables: list[list[list[str]]] = []
        self._in: list[str] = []
        self._text = ""
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list) -> None:
        attrs = dict(attrs)
        if tag == "rect" and attrs.get("class") != "band":
            self.rects.append({**attrs, "title": ""})
        if tag == "table":
            self.tables.append([])
        if tag == "tr":
            self.tables[-1].append([])
        self._in.append(tag)
        self._text = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "title" and "rect" in self._in:
            self.rects[-1]["title"] = self._text
        if tag == "text" and "svg" in self._in and self._text and self._text[0].isalpha():
            self.labels.append(self._text)
        if tag in ("td", "th"):
            self.tables[-1][-1].append(self._text)
        if self._in and self._in[-1] == tag:
            self._in.pop()

    def handle_data(self, data: str) -> None:
        self._text += data

    def row_of(self, label: str) -> list[dict]:
        """The rectangles drawn on the row of `label`, left to right."""
        y = {lbl: 30 + i * 16 + 2 for i, lbl in enumerate(self.labels)}[label]
        return sorted((r for r in self.rects if int(r["y"]) == y), key=lambda r: float(r["x"]))


def build(run_dir: Path) -> timeline.Timeline:
    return timeline.build(timeline.read_events(run_dir), run_dir.name)


def page(run_dir: Path) -> tuple[str, Page]:
    path = timeline.write(run_dir)
    assert path == run_dir / "timeline.html"
    text = path.read_text()
    return text, Page(text)


def test_each_hosts_bars_in_time_order_on_rows_in_host_order_and_skips_counted_not_drawn(tmp_path):
    run_dir = tmp_path / "20261207-120000-site"
    events = Events(run_dir)
    events.play("Every node", 0)
    # Written out of time order (as two processes' files can be): the chart still goes by time.
    events.task("wk10", "Install packages", "base", 60, 120, res={"changed": True})
    events.task("wk10", "Check the node", "preflight", 1, 30)
    events.task("wk2", "Check the node", "preflight", 1, 20)
    events.task("wk2", "Install packages", "base", 40, 100)
    events.task("wk2", "Only on control planes", "base", 100, 101, kind="runner_on_skipped")

    model = build(run_dir)
    assert model.hosts == ["wk2", "wk10"]  # natural order, not wk10 before wk2
    assert [(b.task, b.status) for b in model.bars if b.host == "wk10"] == [
        ("Check the node", "ok"), ("Install packages", "changed")]
    assert model.skipped == 1 and all(b.task != "Only on control planes" for b in model.bars)

    text, html = page(run_dir)
    assert html.labels == ["wk2", "wk10"]
    assert [r["title"].split(" (")[0] for r in html.row_of("wk10")] == ["Check the node", "Install packages"]
    assert "1 skipped (not drawn)" in text and "Only on control planes" not in text
    assert "<script" not in text and "http" not in text.replace("http://www.w3.org", "")  # nothing fetched


def test_failed_and_unreachable_hosts_in_red_with_their_escaped_message(tmp_path):
    run_dir = tmp_path / "run"
    events = Events(run_dir)
    events.task("cp01", "Run kubeadm init", "control_plane", 0, 5, kind="runner_on_failed",
                res={"msg": '<b>"init" failed</b> & rolled back', "stdout": "SECRET-STDOUT", "rc": 1})
    events.task("wk001", "Gathering Facts", "", 0, 3, kind="runner_on_unreachable",
                res={"msg": "Failed to connect to the host via ssh: <wk001> port 22", "unreachable": True})
    events.task("wk002", "Write the token", "join", 0, 1, kind="runner_on_failed",
                res={"censored": CENSORED, "changed": False})
    events.task("wk003", "Probe an optional thing", "base", 0, 1, kind="runner_on_failed",
                res={"msg": "not there"}, ignore_errors=True)
    events.task("wk004", "Loop over files", "base", 0, 2, kind="runner_on_failed",
                res={"msg": "One or more items failed", "results": [{"failed": False, "msg": "fine"},
                                                                   {"failed": True, "msg": "x" * 400}]})

    text, html = page(run_dir)
    red = {r["title"].split(" on ")[1].split(":")[0]: r["title"] for r in html.rects if r["class"] == "bad"}
    assert set(red) == {"cp01", "wk001", "wk002", "wk004"}  # the ignored failure is not red
    assert red["cp01"].endswith('\n<b>"init" failed</b> & rolled back')
    assert red["wk001"].endswith("\nFailed to connect to the host via ssh: <wk001> port 22")
    assert red["wk002"].endswith(f"\n{CENSORED}")
    assert len(red["wk004"].split("\n")[1]) == timeline.MESSAGE_CHARS
    assert red["wk004"].split("\n")[1].startswith("One or more items failed: xxx")
    assert "&lt;b&gt;&quot;init&quot; failed&lt;/b&gt; &amp; rolled back" in text and "<b>" not in text
    assert "SECRET-STDOUT" not in text  # the message only, never the whole result
    failures = next(t for t in html.tables if t[0][0] == "host")  # in the order they ended
    assert [(row[0], row[1], row[2]) for row in failures[1:]] == [
        ("wk002", "failed", "0:01"), ("wk004", "failed", "0:02"), ("wk001", "unreachable", "0:03"),
        ("cp01", "failed", "0:05")]


def test_over_the_threshold_hosts_are_drawn_in_blocks_with_their_bars_merged(tmp_path):
    run_dir = tmp_path / "run"
    events = Events(run_dir)
    hosts = ["cp01", "cp02", "cp03"] + [f"wk{i:03d}" for i in range(1, 43)]  # 45 hosts
    for number, host in enumerate(hosts):
        events.task(host, "Check the node", "preflight", 0 + number * 0.01, 40)
        if host == "wk017":
            events.task(host, "Install packages", "base", 50, 60, kind="runner_on_failed",
                        res={"msg": "E: <broken> package"})
        else:
            events.task(host, "Install packages", "base", 50, 100 + number)

    text, html = page(run_dir)
    assert html.labels[:3] == ["cp01–cp03 (3)", "wk001–wk005 (5)", "wk006–wk010 (5)"]
    assert len(html.labels) == 1 + 42 // 5 + 1 and "wk017" not in html.labels
    assert [r["title"] for r in html.row_of("wk001–wk005 (5)")] == [
        "Check the node on 5 hosts: longest 40.0 s", "Install packages on 5 hosts: longest 57.0 s"]
    failed_block = html.row_of("wk016–wk020 (5)")
    assert failed_block[1]["class"] == "bad"
    assert failed_block[1]["title"].endswith("\nwk017 failed: E: <broken> package")
    assert "E: &lt;broken&gt; package" in text

    # At the threshold, one row per host.
    (run_dir / "timeline.html").unlink()
    for path in events.folder.iterdir():
        if any(f'"host": "{h}"' in path.read_text() for h in hosts[timeline.GROUP_OVER:]):
            path.unlink()
    assert Page(timeline.write(run_dir).read_text()).labels == hosts[:timeline.GROUP_OVER]


def test_slowest_tasks_by_longest_then_total_with_host_counts(tmp_path):
    run_dir = tmp_path / "run"
    events = Events(run_dir)
    events.task("wk001", "Pull images", "container_runtime", 0, 10)
    for host in ("wk001", "wk002", "wk003"):
        events.task(host, "Install packages", "base", 10, 15)  # 5 s each: shorter, but more in all
        events.task(host, "Write a file", "base", 15, 16)
    events.task("wk002", "Reboot", "base", 16, 21)  # as long as the installs, less in all

    model = build(run_dir)
    assert [(t.task, t.role, t.hosts, t.longest, t.total) for t in model.slowest] == [
        ("Pull images", "container_runtime", 1, 10.0, 10.0), ("Install packages", "base", 3, 5.0, 15.0),
        ("Reboot", "base", 1, 5.0, 5.0), ("Write a file", "base", 3, 1.0, 3.0)]
    _, html = page(run_dir)
    slowest = next(t for t in html.tables if t[0][0] == "task")
    assert slowest[1:3] == [["Pull images", "container_runtime", "1", "10.0 s", "10.0 s"],
                            ["Install packages", "base", "3", "5.0 s", "15.0 s"]]


def test_a_sharded_runs_sub_folders_are_drawn_as_one(tmp_path):
    run_dir = tmp_path / "run"
    Events(run_dir / "01").task("cp01", "Check the node", "preflight", 0, 5)
    for shard, (host, end) in enumerate((("wk001", 20), ("wk002", 25)), 1):
        events = Events(run_dir / "02" / f"shard{shard}")
        events.play("Install", 9 + shard / 10)
        events.task(host, "Install packages", "base", 10, end)

    model = build(run_dir)
    assert model.hosts == ["cp01", "wk001", "wk002"]
    assert [play for _, play in model.plays] == ["Install"]  # each shard started it: listed once
    assert {b.source for b in model.bars} == {"01/artifacts/run", "02/shard1/artifacts/run", "02/shard2/artifacts/run"}
    assert model.slowest[0] == timeline.TaskTotal("Install packages", "base", 2, 15.0, 25.0)
    _, html = page(run_dir)
    assert html.labels == ["cp01", "wk001", "wk002"]


def test_a_task_without_a_result_is_drawn_unfinished_up_to_the_last_event(tmp_path):
    run_dir = tmp_path / "run"
    events = Events(run_dir)
    events.task("cp01", "Check the node", "preflight", 0, 5)
    events.emit("runner_on_start", 6, {"play": "Play", "role": "base", "task": "Sleep", "task_uuid": "u1",
                                       "host": "cp01"})
    events.emit("verbose", 30)  # the run's last word: where the interrupted task is drawn to

    bar = build(run_dir).bars[-1]
    assert (bar.task, bar.status, bar.seconds) == ("Sleep", "unfinished", 24.0)
    _, html = page(run_dir)
    assert html.row_of("cp01")[-1]["class"] == "unf"


def test_a_run_without_task_results_gets_no_timeline(tmp_path):
    events = Events(tmp_path / "run")
    events.emit("verbose", 0)
    assert timeline.write(tmp_path / "run") is None and not (tmp_path / "run" / "timeline.html").exists()
    assert timeline.write(tmp_path) is None  # no job_events at all


def test_a_broken_timeline_never_changes_the_runs_outcome(tmp_path, monkeypatch, capsys):
    def broken(_run_dir: Path) -> None:
        raise ValueError("bad event")

    monkeypatch.setattr(timeline, "write", broken)
    runner._write_timeline(tmp_path)  # no exception
    assert capsys.readouterr().err == "timeline: not written (ValueError: bad event)\n"


def test_the_summary_names_the_timeline_when_there_is_one(tmp_path):
    state = RunState()
    assert summary.render(state, tmp_path, [], rc=0).splitlines()[-1] == f"artifacts: {tmp_path}"
    (tmp_path / "timeline.html").write_text("")
    assert summary.render(state, tmp_path, [], rc=0).splitlines()[-2:] == [
        f"artifacts: {tmp_path}", f"timeline: {tmp_path / 'timeline.html'}"]


@pytest.fixture
def artifacts_dir(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / ".artifacts"
    monkeypatch.setattr(runner, "ARTIFACTS_DIR", folder)
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    return folder


@pytest.fixture
def opened(monkeypatch) -> list[str]:
    """What `report` asked the web browser to open (nothing is started)."""
    urls: list[str] = []
    monkeypatch.setattr("webbrowser.open", urls.append)
    return urls


def test_report_prints_the_newest_runs_timeline_and_opens_it_only_with_a_display(artifacts_dir, opened, capsys,
                                                                                   monkeypatch):
    Events(artifacts_dir / "20261207-110000-site").task("cp01", "Check the node", "preflight", 0, 5)
    Events(artifacts_dir / "20261207-120000-site").task("cp01", "Check the node", "preflight", 0, 5)
    (artifacts_dir / "facts").mkdir()  # the fact cache, not a run
    newest = artifacts_dir / "20261207-120000-site" / "timeline.html"

    assert cli.main(["report"]) == 0
    assert capsys.readouterr().out == f"{newest}\n" and newest.exists()
    assert opened == []

    monkeypatch.setenv("WAYLAND_DISPLAY", "wayland-0")
    assert cli.main(["report", "20261207-110000-site"]) == 0
    older = artifacts_dir / "20261207-110000-site" / "timeline.html"
    assert capsys.readouterr().out == f"{older}\n"
    assert opened == [older.as_uri()]


@pytest.mark.parametrize("setup,argv,message", [
    (lambda d: None, ["report"], "no runs yet under"),
    (lambda d: (d / "facts").mkdir(parents=True), ["report"], "no runs yet under"),
    (lambda d: Events(d / "20261207-120000-site").task("cp01", "T", "r", 0, 1), ["report", "20261207-999999-x"],
     "report 20261207-999999-x: no such run: neither a folder nor a run under"),
    (lambda d: (d / "20261207-120000-site").mkdir(parents=True), ["report"], "report: no task results in"),
])
def test_report_errors_exit_2_with_one_sentence(artifacts_dir, opened, capsys, setup, argv, message):
    setup(artifacts_dir)
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {message}") and err.count("\n") == 1, err
