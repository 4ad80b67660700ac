#!/usr/bin/env python3
"""Bootstrap speed on a simulated lab: python bench/bootstrap_bench.py --nodes 10 50 100

For each N: lab up, first converge of the lab phases (nodes, spark), a no-op rerun, a single-role rerun
(container_runtime), controller and node CPU seconds per task-host execution, the same no-op run under
stock Ansible settings for a ratio, and word count submit-to-result. Prints a table, writes JSON.
A benchmark, not a test: it measures and reports, it asserts nothing, CI does not run it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import cache_stats  # beside this script: a script's own folder is on sys.path
import plots
import yaml
from clusterboot import mitogen, playbook_map
from clusterboot.lab import lab

PROJECT = Path(__file__).resolve().parent.parent

PYTHON = sys.executable
# Ansible's default settings (forks 5, linear strategy, no pipelining, no fact cache), plus what the playbooks
# cannot run without: the project's roles, modules, action and vars plugins (host_group_vars plus the settings'
# defaults).
STOCK_CFG = ("[defaults]\nroles_path = {project}/roles\nlibrary = {project}/plugins/modules\n"
             "action_plugins = {project}/plugins/action\n"
             "vars_plugins = {project}/plugins/vars\nvars_plugins_enabled = cluster_defaults\n")


def node_cpu_seconds(cfg: lab.LabConfig) -> float:
    """CPU used so far by every lab container, from the host's cgroups."""
    total = 0.0
    ids = subprocess.run(["docker", "ps", "-q", "--no-trunc", "--filter", f"label=clusterboot.lab={cfg.name}"],
                         capture_output=True, text=True, check=True).stdout.split()
    for cid in ids:
        for path in (f"/sys/fs/cgroup/system.slice/docker-{cid}.scope/cpu.stat",
                     f"/sys/fs/cgroup/docker/{cid}/cpu.stat"):
            if os.path.exists(path):
                usage = re.search(r"usage_usec (\d+)", Path(path).read_text())
                total += int(usage.group(1)) / 1e6 if usage else 0
                break
        else:
            for path in (f"/sys/fs/cgroup/cpuacct/docker/{cid}/cpuacct.usage",
                         f"/sys/fs/cgroup/cpu,cpuacct/docker/{cid}/cpuacct.usage"):
                if os.path.exists(path):
                    total += int(Path(path).read_text()) / 1e9
                    break
    return total


def task_hosts(summary: str) -> int:
    """ok + failed + unreachable + skipped from the runner's totals line."""
    m = re.search(r"ok=(\d+) changed=\d+ failed=(\d+) unreachable=(\d+) skipped=(\d+)", summary)
    return sum(int(g) for g in m.groups()) if m else 0


def changed(summary: str) -> int:
    m = re.search(r"changed=(\d+)", summary)
    return int(m.group(1)) if m else -1


def measure(cfg: lab.LabConfig, args: list[str], env: dict | None = None) -> dict:
    before_nodes = node_cpu_seconds(cfg)
    before_self = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    proc = subprocess.run([PYTHON, "bootstrap.py", "--inventory", str(cfg.inventory_dir), "-q", *args], cwd=PROJECT,
                          capture_output=True, text=True, env={**os.environ, **(env or {})}, check=False)
    wall = time.monotonic() - started
    after_self = resource.getrusage(resource.RUSAGE_CHILDREN)
    controller = (after_self.ru_utime - before_self.ru_utime) + (after_self.ru_stime - before_self.ru_stime)
    nodes = node_cpu_seconds(cfg) - before_nodes
    executions = task_hosts(proc.stdout)
    return {
        "rc": proc.returncode, "wall_s": round(wall, 1), "changed": changed(proc.stdout),
        "task_hosts": executions, "controller_cpu_s": round(controller, 1), "node_cpu_s": round(nodes, 1),
        "controller_ms_per_task_host": round(1000 * controller / executions, 1) if executions else None,
        "node_ms_per_task_host": round(1000 * nodes / executions, 1) if executions else None,
    }


def _proc_cpu(pid: int) -> tuple[int, float] | None:
    """(parent pid, own user+system CPU seconds) of a process, without its children; None once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _ansible_mains(parent: int) -> dict[int, str]:
    """The ansible-playbook main processes bootstrap.py started (ansible-runner spawns them as its children),
    each with its artifacts folder (its `-e @FOLDER/env/extravars`). Their forked workers have the main
    process as parent, so they are not among them."""
    mains = {}
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            argv = cmdline.read_bytes().decode(errors="replace").split("\0")
            if any(a.endswith("ansible-playbook") for a in argv) and (_proc_cpu(int(cmdline.parent.name)) or (0,))[0] == parent:
                extravars = next((a[1:] for a in argv if a.startswith("@") and a.endswith("/env/extravars")), "")
                mains[int(cmdline.parent.name)] = str(Path(extravars).parent.parent) if extravars else "?"
        except (OSError, ValueError):
            continue
    return mains


RESULTS = {"runner_on_ok", "runner_on_skipped", "runner_on_failed", "runner_on_unreachable"}


def folder_task_hosts(folder: str) -> int:
    """Task-host executions one ansible-playbook reported (its result events)."""
    return sum(json.loads(f.read_text()).get("event") in RESULTS
               for f in Path(folder).glob("artifacts/run/job_events/*.json"))


def measure_sharded(cfg: lab.LabConfig, args: list[str], inventory: Path | None = None,
                    env: dict[str, str] | None = None) -> dict:
    """One bootstrap.py run (on `inventory`, default the lab's), with each ansible-playbook main process's own
    CPU (sampled every 0.1 s from /proc while it runs: up to 0.1 s of each process's last CPU is missed) and
    task-host executions, besides the totals of `measure`. Node CPU is summed over every lab container."""
    before_nodes = node_cpu_seconds(cfg)
    before_self = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    proc = subprocess.Popen([PYTHON, "bootstrap.py", "--inventory", str(inventory or cfg.inventory_dir), "-q", *args],
                            cwd=PROJECT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, **(env or {})})
    cpu: dict[int, float] = {}
    folders: dict[int, str] = {}
    while proc.poll() is None:
        for pid, folder in _ansible_mains(proc.pid).items():
            sample = _proc_cpu(pid)
            if sample:
                cpu[pid], folders[pid] = sample[1], folder
        time.sleep(0.1)
    output = proc.stdout.read() if proc.stdout else ""
    wall = time.monotonic() - started
    after_self = resource.getrusage(resource.RUSAGE_CHILDREN)
    controller = (after_self.ru_utime - before_self.ru_utime) + (after_self.ru_stime - before_self.ru_stime)
    nodes = node_cpu_seconds(cfg) - before_nodes
    executions = task_hosts(output)
    hosts = len(re.findall(r"^(?:cp|wk)\d+ ", output, re.M)) or 1
    main_cpu = sum(cpu.values())
    processes = [{"folder": os.path.relpath(folders[pid], PROJECT / ".artifacts"),
                  "main_cpu_s": round(cpu[pid], 2), "task_hosts": folder_task_hosts(folders[pid])} for pid in cpu]
    return {
        "rc": proc.returncode, "wall_s": round(wall, 1), "changed": changed(output), "task_hosts": executions,
        "nodes": hosts, "task_hosts_per_node": round(executions / hosts, 1), "ansible_processes": len(cpu),
        "main_cpu_s": round(main_cpu, 1), "main_cpu_max_process_s": round(max(cpu.values(), default=0), 1),
        "controller_cpu_s": round(controller, 1), "node_cpu_s": round(nodes, 1),
        "main_ms_per_task_host": round(1000 * main_cpu / executions, 1) if executions else None,
        "controller_ms_per_task_host": round(1000 * controller / executions, 1) if executions else None,
        "node_ms_per_task_host": round(1000 * nodes / executions, 1) if executions else None,
        "processes": sorted(processes, key=lambda p: p["folder"]),
        "shardable_share": shardable_share([Path(folder) for folder in folders.values()]),
    }


class ControllerBytes:
    """Bytes the controller itself sends to each node: one counting rule (no target) per node address in
    iptables' OUTPUT chain, which sees only what this machine's own processes send (SSH, Mitogen, file
    copies), not the nodes' traffic to one another or the upstream traffic Docker forwards to them (FORWARD)."""

    def __init__(self, cfg: lab.LabConfig) -> None:
        self.comment = f"clusterboot-bench-{cfg.name}"
        self.addresses = {name: ip for name, _, ip in lab.status(cfg)}

    def __enter__(self) -> "ControllerBytes":
        for ip in self.addresses.values():
            subprocess.run(["iptables", "-I", "OUTPUT", "-d", ip, "-m", "comment", "--comment", self.comment],
                           check=True)
        return self

    def __exit__(self, *exc: object) -> None:
        for ip in self.addresses.values():
            subprocess.run(["iptables", "-D", "OUTPUT", "-d", ip, "-m", "comment", "--comment", self.comment],
                           check=False)

    def read(self) -> dict[str, int]:
        listing = subprocess.run(["iptables", "-nvxL", "OUTPUT"], capture_output=True, text=True, check=True).stdout
        sent = {}
        for line in listing.splitlines():
            fields = line.split()
            if self.comment in line and len(fields) > 7:
                sent[fields[7]] = int(fields[1])
        return {name: sent.get(ip, 0) for name, ip in self.addresses.items()}


def wheel_transfer(cfg: lab.LabConfig, source: str) -> dict:
    """`--role spark_standalone` on nodes whose venv and wheels were removed, with the wheels from `source`:
    bytes the controller sent to each node, and the run's figures. The setting is written into the lab's
    inventory for the run and taken out after."""
    settings_file = cfg.inventory_dir / "group_vars" / "all.yml"
    original = settings_file.read_text()
    for container, _, _ in lab.status(cfg):
        subprocess.run(["docker", "exec", container, "rm", "-rf", "/opt/spark/venv", "/opt/spark/wheels"], check=True)
    settings_file.write_text(original + f"spark_standalone_wheel_source: {source}\n")
    try:
        with ControllerBytes(cfg) as counter:
            before = counter.read()
            result = measure_sharded(cfg, ["--role", "spark_standalone"])
            after = counter.read()
    finally:
        settings_file.write_text(original)
    sent = {name.removeprefix(f"{cfg.name}-"): after[name] - before[name] for name in after}
    return {**result, "controller_bytes_per_node": sent,
            "controller_mib_per_node_max": round(max(sent.values()) / 2**20, 1),
            "controller_mib_total": round(sum(sent.values()) / 2**20, 1)}


def subset_inventory(cfg: lab.LabConfig, nodes: int) -> Path:
    """The lab's inventory cut to its control planes and the first workers, `nodes` hosts in all, as a cluster of
    that size (its own groups, hostvars and fact cache), in .artifacts/inventory/<lab>-<nodes>."""
    folder = PROJECT / ".artifacts" / "inventory" / f"{cfg.name}-{nodes}"
    if folder.exists():
        subprocess.run(["rm", "-rf", str(folder)], check=True)
    folder.mkdir(parents=True)
    subprocess.run(["cp", "-r", str(cfg.inventory_dir / "group_vars"), str(folder)], check=True)
    hosts = yaml.safe_load((cfg.inventory_dir / "hosts.yml").read_text())
    groups = hosts["all"]["children"]
    workers = groups["workers"]["hosts"]
    keep = max(0, nodes - len(groups["control_plane"]["hosts"]))
    groups["workers"]["hosts"] = {name: workers[name] for name in list(workers)[:keep]}
    (folder / "hosts.yml").write_text(yaml.safe_dump(hosts, sort_keys=False))
    return folder


def base_strategy_env() -> dict[str, str]:
    """The strategy clusterboot_linear builds on, chosen directly: false conditions skipped in forked workers."""
    return {"ANSIBLE_STRATEGY": mitogen.strategy_env("auto").get("CLUSTERBOOT_STRATEGY_BASE", "linear")}


def levers(cfg: lab.LabConfig, phase: str, shards: int | None, wheels: bool,
           facts_sizes: list[int], controller_skip: bool = False, template_cache: bool = False,
           mux: bool = False) -> Iterator[dict]:
    """Each lever off and on in one run, on a converged lab, one row per run as it ends: with
    `controller_skip`, no-op reruns of `phase` and of `--role container_runtime` with false conditions skipped
    and controller-only actions run in forked workers (the base strategy), with only the skips in the main
    process (clusterboot_linear, CLUSTERBOOT_CONTROLLER_ACTIONS=off), and with both there; no-op reruns of
    `phase`, one process vs shards; for each of `facts_sizes`, facts also as top-level variables (Ansible's
    default) vs only under ansible_facts (the project's ansible.cfg), on that many of the lab's nodes; with
    `wheels`, the standalone nodes' pyspark from the controller vs from inside the cluster; with `template_cache`,
    no-op reruns of `phase` and of `--role container_runtime` with each template compiled every time it is
    templated (Ansible's way, CLUSTERBOOT_TEMPLATE_CACHE=off) vs once per process, before the workers fork; with
    `mux`, the same two reruns with one Mitogen multiplexer process (Mitogen's default: every node's connection
    and message goes through it) vs one per controller core (MITOGEN_CPU_COUNT)."""
    env_levers = [("controller skip", (("in workers", base_strategy_env()),
                                       ("skips in the main process", {"CLUSTERBOOT_CONTROLLER_ACTIONS": "off"}),
                                       ("in the main process", {})))] if controller_skip else []
    env_levers += [("template cache", (("compiled each time", {"CLUSTERBOOT_TEMPLATE_CACHE": "off"}),
                                       ("compiled once", {})))] if template_cache else []
    cores = str(len(os.sched_getaffinity(0)))
    env_levers += [("mux processes", (("1", {"MITOGEN_CPU_COUNT": "1"}),
                                      (cores, {"MITOGEN_CPU_COUNT": cores})))] if mux else []
    for lever, settings in env_levers:
        for run in (["--phase", phase], ["--role", "container_runtime"]):
            for label, env in settings:
                yield {"lever": lever, "setting": label, "phase": " ".join(run), **measure_sharded(cfg, run, env=env)}
    for label, extra in (("shards 1", ["--shards", "1"]), (f"shards {shards}", ["--shards", str(shards)])) if shards else ():
        yield {"lever": "shards", "setting": label, "phase": phase, **measure_sharded(cfg, ["--phase", phase, *extra])}
    for nodes in facts_sizes:
        inventory = subset_inventory(cfg, nodes)
        # The project's setting first: the subset's first run starts its fact cache, which counts against it.
        for label, env in (("ansible_facts only", {}), ("facts as variables", {"ANSIBLE_INJECT_FACT_VARS": "True"})):
            yield {"lever": "facts", "setting": label, "phase": phase,
                   **measure_sharded(cfg, ["--phase", phase], inventory=inventory, env=env)}
    if wheels:
        for source in ("controller", "in_cluster"):
            yield {"lever": "wheel source", "setting": source, "phase": "--role spark_standalone",
                   **wheel_transfer(cfg, source)}


def levers_table(rows: list[dict]) -> str:
    lines = ["| lever | setting | run | nodes | wall s | changed | task-hosts (per node) | ansible processes | "
             "main-process CPU s (largest process) | main ms/task-host | controller CPU s | node ms/task-host | "
             "controller MiB sent: max per node / total |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        sent = (f"{r['controller_mib_per_node_max']} / {r['controller_mib_total']}"
                if "controller_mib_total" in r else "-")
        lines.append(f"| {r['lever']} | {r['setting']} | {r['phase']} | {r.get('nodes', '-')} | {r['wall_s']} | {r['changed']} | "
                     f"{r['task_hosts']} ({r['task_hosts_per_node']}) | {r['ansible_processes']} | "
                     f"{r['main_cpu_s']} ({r['main_cpu_max_process_s']}) | {r['main_ms_per_task_host']} | "
                     f"{r['controller_cpu_s']} | {r['node_ms_per_task_host']} | {sent} |")
    return "\n".join(lines)


# Main-process CPU of one ansible-playbook before its first task (parsing, inventory, plugins), fitted over
# the 5 processes of a sharded levers run (docs/benchmarks.md, "Sharded runs": 1.09-1.31 s): each extra shard pays it again.
FIXED_MAIN_CPU_S = 1.3


def shardable_share(folders: list[Path]) -> float | None:
    """The share of a run's task-host executions (over all its processes) that are in plays declared shardable,
    from its events; None without any task result."""
    shardable = {p.name for p in playbook_map.read_plays(PROJECT / "playbooks" / "site.yml") if p.shardable}
    counts = {True: 0, False: 0}
    for folder in folders:
        for f in folder.glob("artifacts/run/job_events/*.json"):
            event = json.loads(f.read_text())
            if event.get("event") in RESULTS:
                counts[event.get("event_data", {}).get("play") in shardable] += 1
    total = counts[True] + counts[False]
    return round(counts[True] / total, 3) if total else None


def levers_rows(saved: dict | list) -> list[dict]:
    """The rows of a levers JSON: a list, or {"reruns", "levers"} when --reruns ran first."""
    return saved["levers"] if isinstance(saved, dict) else saved


def noop_row(rows: list[dict]) -> dict:
    """A levers run's `--phase` no-op with the project's settings: templates compiled once (--template-cache),
    or, in levers files from before it, false conditions skipped in the main process (--controller-skip)."""
    defaults = (("template cache", "compiled once"), ("controller skip", "in the main process"))
    row = next((r for lever in defaults for r in rows if (r["lever"], r["setting"]) == lever
                and r["phase"].startswith("--phase")), None)
    if row is None:  # levers files from before --controller-skip (older projections)
        raise SystemExit("--project: this levers JSON has no `--levers PHASE --template-cache` or "
                         "`--controller-skip` row, which the model needs")
    return row


def project(rows: list[dict], nodes: int, cores: int, small: list[dict] | None = None) -> dict:
    """The nodes-phase no-op on `nodes` real machines and a controller of `cores` cores, from a levers run with
    --controller-skip (its `--phase nodes` row with false conditions skipped in the main process), and the same
    levers run on a small lab (`small`) for the latency.

    Model, every input measured by that run except FIXED_MAIN_CPU_S:
      per task-host: main-process CPU m, forked workers' CPU w (controller CPU minus main), node CPU n; task-hosts
        per node k; m does not grow with the hosts a process holds (docs/benchmarks.md: 15.0 ms per task-host on 100 nodes,
        16.4 ms on 10), so the main process's CPU is m * k * nodes;
      one process: the main process is single-threaded, all controller CPU must fit the cores, and real nodes
        work in parallel (each node's CPU, n * k, overlaps the controller's): wall = the largest of the three;
      S shards (S = cores): the share of task-hosts in plays declared shardable (counted from the run's events)
        is split over S processes that each pay FIXED_MAIN_CPU_S; the other plays stay in one process;
      plus latency: every task waits for its last host's result before the next starts; per task, the small
        lab's wall time over its task-hosts per node (an upper bound: it holds that lab's CPU too).
    """
    row = noop_row(rows)
    lab_nodes = row["nodes"]
    main_ms = 1000 * row["main_cpu_s"] / row["task_hosts"]
    worker_ms = 1000 * (row["controller_cpu_s"] - row["main_cpu_s"]) / row["task_hosts"]
    node_ms = row["node_ms_per_task_host"]
    per_node = row["task_hosts"] / lab_nodes
    # A row carries it since 2026-11-27's last bench; older ones are counted from the run's folders, if still there.
    share = row.get("shardable_share")
    share = share if share is not None else shardable_share(
        [PROJECT / ".artifacts" / process["folder"] for process in row["processes"]])
    if share is None:  # a share of 0 would silently project no gain from shards
        raise SystemExit("--project: the row has no shardable_share and its run's artifacts folders are gone")
    task_hosts = per_node * nodes
    controller = (main_ms + worker_ms) * task_hosts / 1000 / cores
    node = node_ms * per_node / 1000
    small_row = noop_row(small) if small else None
    latency = small_row["wall_s"] / small_row["task_hosts_per_node"] if small_row else 0.0

    def wall(shards: int) -> float:
        main = main_ms * task_hosts / 1000
        if shards > 1:
            main = main * (1 - share) + main * share / shards + FIXED_MAIN_CPU_S * (shards - 1)
        return round(max(main, controller, node) + latency * per_node, 1)

    return {"measured_on_nodes": lab_nodes, "main_ms_per_task_host": round(main_ms, 1),
            "worker_ms_per_task_host": round(worker_ms, 1), "node_ms_per_task_host": node_ms,
            "task_hosts_per_node": round(per_node, 1), "shardable_share": share,
            "nodes": nodes, "cores": cores, "controller_cpu_floor_s": round(controller, 1),
            "node_cpu_per_node_s": round(node, 1), "latency_s_per_task": round(latency, 3),
            "latency_from_nodes": small_row["nodes"] if small_row else None, "projected_noop_s_one_process": wall(1),
            f"projected_noop_s_{cores}_shards": wall(cores)}


def stock_noop(cfg: lab.LabConfig, tmp: Path) -> dict:
    """The same no-op nodes phase with ansible-playbook under stock settings (ansible-runner not involved)."""
    stock = tmp / "stock-ansible.cfg"
    stock.write_text(STOCK_CFG.format(project=PROJECT))
    before_nodes = node_cpu_seconds(cfg)
    before_self = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    proc = subprocess.run([str(Path(PYTHON).parent / "ansible-playbook"), "-i", str(cfg.inventory_dir), "--tags", "nodes",
                           "playbooks/site.yml"], cwd=PROJECT, capture_output=True, text=True,
                          env={**os.environ, "ANSIBLE_CONFIG": str(stock)}, check=False)
    wall = time.monotonic() - started
    after_self = resource.getrusage(resource.RUSAGE_CHILDREN)
    recap = re.findall(r"ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)\s+skipped=(\d+)", proc.stdout)
    executions = sum(int(o) + int(u) + int(f) + int(s) for o, _, u, f, s in recap)
    controller = (after_self.ru_utime - before_self.ru_utime) + (after_self.ru_stime - before_self.ru_stime)
    nodes = node_cpu_seconds(cfg) - before_nodes
    return {"rc": proc.returncode, "wall_s": round(wall, 1), "task_hosts": executions,
            "changed": sum(int(c) for _, c, *_ in recap),
            "controller_ms_per_task_host": round(1000 * controller / executions, 1) if executions else None,
            "node_ms_per_task_host": round(1000 * nodes / executions, 1) if executions else None}


def word_count(cfg: lab.LabConfig) -> dict:
    data = cfg.shared_data_dir
    subprocess.run([PYTHON, "bootstrap.py", "submit", "--inventory", str(cfg.inventory_dir), "data_generator", "--",
                    "text", f"{data}/bench-corpus", "--lines", "20000"], cwd=PROJECT, capture_output=True, check=False)
    started = time.monotonic()
    proc = subprocess.run([PYTHON, "bootstrap.py", "submit", "--inventory", str(cfg.inventory_dir), "word_count", "--",
                           f"{data}/bench-corpus", f"{data}/bench-counts"], cwd=PROJECT, capture_output=True,
                          text=True, check=False)
    return {"rc": proc.returncode, "submit_to_result_s": round(time.monotonic() - started, 1)}


# The reruns after a first converge, by name: a 100-node run picks some (the stock one alone takes long).
RERUNS = ("noop_rerun", "noop_rerun_without_mitogen", "single_role_rerun", "noop_nodes_project_cfg",
          "noop_nodes_stock_cfg")


def rerun(cfg: lab.LabConfig, name: str, phases: list[str], tmp: Path) -> dict:
    """One of RERUNS on a converged lab."""
    runs = {"noop_rerun": lambda: measure(cfg, phases),
            "noop_rerun_without_mitogen": lambda: measure(cfg, [*phases, "--mitogen", "off"]),
            "single_role_rerun": lambda: measure(cfg, ["--role", "container_runtime"]),
            "noop_nodes_project_cfg": lambda: measure(cfg, ["--phase", "nodes"]),
            "noop_nodes_stock_cfg": lambda: stock_noop(cfg, tmp)}
    return runs[name]()


def bench(nodes: int, package_cache: bool, skip_spark: bool, keep_lab: bool, tmp: Path,
          reruns: tuple[str, ...] = RERUNS, save: Callable[[dict], None] = lambda _: None) -> dict:
    """One lab of `nodes`: its first converge, then `reruns`; `save` gets the result so far after each run."""
    cfg = lab.LabConfig(project_dir=PROJECT, name=f"bench{nodes}", subnet="10.218.0.0/22")
    lab.down(cfg, log=lambda _: None)
    result: dict = {"nodes": nodes, "package_cache": package_cache}
    result["lab_up_s"] = round(lab.up(cfg, nodes=nodes, package_cache=package_cache, spark_manager="standalone",
                                       log=lambda _: None), 1)
    phases = ["--phase", "nodes"] if skip_spark else ["--no-jobs"]
    result["first_converge"] = measure(cfg, phases)
    if package_cache:
        stats = cache_stats.parse(cache_stats.read_log(f"{cfg.name}-cp01"))
        result["package_cache_stats"] = dataclasses.asdict(stats)
    save(result)
    for name in reruns:
        result[name] = rerun(cfg, name, phases, tmp)
        save(result)
    if not skip_spark:
        result["word_count"] = word_count(cfg)
    if not keep_lab:
        lab.down(cfg, log=lambda _: None)
    return result


def table(results: list[dict]) -> str:
    rows = ["| nodes | cache | first converge s | upstream MiB / served MiB | no-op rerun s (changed) | "
            "no-op without Mitogen s | --role container_runtime s | controller ms/task-host | node ms/task-host | "
            "stock/project no-op wall | word count s |",
            "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        stock, project = r.get("noop_nodes_stock_cfg"), r.get("noop_nodes_project_cfg")
        ratio = round(stock["wall_s"] / project["wall_s"], 2) if stock and project and project["wall_s"] else "-"
        cache = r.get("package_cache_stats")
        traffic = f"{cache['upstream_bytes'] / 2**20:.0f} / {cache['served_bytes'] / 2**20:.0f}" if cache else "-"
        noop, bare = r.get("noop_rerun", {}), r.get("noop_rerun_without_mitogen", {})
        rows.append(
            f"| {r['nodes']} | {'on' if r['package_cache'] else 'off'} | {r['first_converge']['wall_s']} | {traffic} | "
            f"{noop.get('wall_s', '-')} ({noop.get('changed', '-')}) | "
            f"{bare.get('wall_s', '-')} ({bare.get('changed', '-')}) | "
            f"{r.get('single_role_rerun', {}).get('wall_s', '-')} | "
            f"{noop.get('controller_ms_per_task_host', '-')} | {noop.get('node_ms_per_task_host', '-')} | "
            f"{ratio} | {r.get('word_count', {}).get('submit_to_result_s', '-')} |")
    return "\n".join(rows)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, nargs="+", default=[10, 50, 100])
    parser.add_argument("--package-cache", choices=["on", "off", "both"], default="on")
    parser.add_argument("--skip-spark", action="store_true", help="only the nodes phase")
    parser.add_argument("--keep-lab", action="store_true", help="leave the last lab up (to measure more by hand)")
    parser.add_argument("--reruns", nargs="+", choices=RERUNS,
                        help="which reruns follow the first converge (default: all); with --levers, these first "
                             "(the nodes phase's) on the converged lab (default: none)")
    parser.add_argument("--json", default=str(PROJECT / ".artifacts" / "bench.json"))
    parser.add_argument("--levers", metavar="PHASE",
                        help="only the levers, off and on, as no-op reruns of PHASE on an already converged lab "
                             "(--lab, --subnet): one ansible-playbook vs --shards")
    parser.add_argument("--shards", type=int, default=len(os.sched_getaffinity(0)), help="with --levers: 0 skips them")
    parser.add_argument("--facts", type=int, nargs="+", default=[], metavar="NODES",
                        help="with --levers: facts as top-level variables vs only under ansible_facts, on the first "
                             "NODES nodes of the lab (each count a cluster of its own)")
    parser.add_argument("--controller-skip", action="store_true",
                        help="with --levers: false conditions skipped and controller-only actions run in forked "
                             "workers vs in the main process, for PHASE and --role container_runtime")
    parser.add_argument("--template-cache", action="store_true",
                        help="with --levers: templates compiled each time vs once per process, for PHASE and "
                             "--role container_runtime")
    parser.add_argument("--mux", action="store_true",
                        help="with --levers: one Mitogen multiplexer process vs one per controller core, for PHASE "
                             "and --role container_runtime")
    parser.add_argument("--wheels", action="store_true",
                        help="with --levers: also the wheel source (needs the spark phase converged once)")
    parser.add_argument("--lab", default="shard", help="with --levers: the lab's name")
    parser.add_argument("--subnet", default="10.230.0.0/22", help="with --levers: the lab's subnet")
    parser.add_argument("--project", metavar="JSON",
                        help="the projection for --project-nodes real nodes and --project-cores from a levers JSON")
    parser.add_argument("--project-latency", metavar="JSON",
                        help="with --project: a levers JSON of a small lab, for the per-task latency")
    parser.add_argument("--project-nodes", type=int, default=100)
    parser.add_argument("--project-cores", type=int, default=8)
    args = parser.parse_args(argv)
    if args.project:
        saved = json.loads(Path(args.project).read_text())
        small = json.loads(Path(args.project_latency).read_text()) if args.project_latency else None
        print(json.dumps(project(levers_rows(saved), args.project_nodes, args.project_cores,
                                 levers_rows(small) if small else None), indent=2))
        return 0
    if args.levers:
        cfg = lab.LabConfig(project_dir=PROJECT, name=args.lab, subnet=args.subnet)
        tmp = PROJECT / ".artifacts"
        reruns: dict[str, dict] = {}
        rows: list[dict] = []

        def save() -> None:  # after every run: a bench stopped midway keeps what it measured
            Path(args.json).write_text(json.dumps({"reruns": reruns, "levers": rows} if reruns else rows, indent=2))

        for name in args.reruns or []:
            reruns[name] = rerun(cfg, name, ["--phase", "nodes"], tmp)
            save()
        for row in levers(cfg, args.levers, args.shards, args.wheels, args.facts, args.controller_skip,
                          args.template_cache, args.mux):
            rows.append(row)
            save()
        print(json.dumps(reruns, indent=2))
        print(levers_table(rows))
        print(f"json: {args.json}\nplot: {plots.write(Path(args.json))}")
        return 0
    caches = {"on": [True], "off": [False], "both": [False, True]}[args.package_cache]
    tmp = PROJECT / ".artifacts"
    tmp.mkdir(exist_ok=True)
    results: list[dict] = []
    last = (args.nodes[-1], caches[-1])
    for n in args.nodes:
        for cache in caches:
            # Only the last lab stays up with --keep-lab: the labs share one subnet.
            keep = args.keep_lab and (n, cache) == last
            results.append(bench(n, cache, args.skip_spark, keep, tmp, tuple(args.reruns or RERUNS),
                                 save=lambda partial: Path(args.json).write_text(
                                     json.dumps([*results, partial], indent=2))))
    Path(args.json).write_text(json.dumps(results, indent=2))
    print(table(results))
    print(f"json: {args.json}\nplot: {plots.write(Path(args.json))}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
