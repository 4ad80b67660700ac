"""Command line: parse arguments, dispatch, turn errors into one sentence and an exit code."""

from __future__ import annotations

import argparse
import dataclasses
import importlib.metadata
import json
import re
import sys
from pathlib import Path

from clusterboot import day2, mitogen
from clusterboot.errors import EXIT_OK, Interrupted, RunFailed, UserError
from clusterboot.paths import INVENTORIES_DIR, PLAYBOOKS_DIR, PROJECT_DIR, ROLES_DIR


EPILOG = """exit codes: 0 ok, 1 a playbook or job failed, 2 usage or input error (nothing was changed),
  130 stopped by Ctrl-C, 143 by SIGTERM (the summary says where; rerun the same command to finish)

examples:
  python bootstrap.py --inventory lab100                  the whole flow, then the configured Spark jobs
  python bootstrap.py --inventory lab100 --role base      rerun one role on the hosts it applies to
  python bootstrap.py lab up --nodes 4                    a simulated lab of 4 node containers
  python bootstrap.py inventory check --inventory lab100  every inventory check, no node contacted
  python bootstrap.py render --inventory lab100           every kubeadm config and manifest, for review
  python bootstrap.py remove-node --inventory lab100 wk007 --yes   day-2: drain and delete a worker
  python bootstrap.py report                              the newest run's timeline: tasks per host over time
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bootstrap.py", description="Bootstrap a bare-metal Kubernetes cluster for Spark.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_run_options(parser)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    lab = commands.add_parser("lab", help="the simulated lab of node containers")
    lab_commands = lab.add_subparsers(dest="lab_command", metavar="ACTION", required=True)
    lab_up = lab_commands.add_parser("up", help="start N node containers, write inventory/sim, wait for SSH")
    lab_up.add_argument("--nodes", type=int, default=4, help="number of nodes (default 4)")
    lab_up.add_argument("--control-planes", type=int, default=1, help="how many of them are control planes")
    lab_up.add_argument("--package-cache", action="store_true", help="turn the apt package cache on in the lab inventory")
    lab_up.add_argument("--spark-manager", choices=("kubernetes", "standalone"), default="kubernetes",
                        help="kubernetes: a real kubeadm cluster from the offline artifacts runs the jobs (default); "
                             "standalone: Spark's own cluster manager, no Kubernetes")
    lab_up.add_argument("--sudo-user", metavar="NAME",
                        help="log in as this account (created on every node, passwordless sudo) instead of root, "
                             "with become, as on real servers")
    lab_commands.add_parser("image", help="start a Docker engine if needed and build the node image; print its tag")
    lab_commands.add_parser("status", help="list the lab's containers")
    lab_commands.add_parser("down", help="remove the lab's containers, network, inventory and keys")

    submit = commands.add_parser("submit", help="submit a PySpark job to the cluster; its exit status is ours")
    submit.add_argument("job", help="a job of spark_jobs/ by name (word_count, classification, regression, "
                                    "dl_training, data_generator) or your own PySpark file by path")
    submit.add_argument("--conf", action="append", default=[], metavar="KEY=VALUE",
                        help="a Spark setting for this submission, over the inventory's spark_submit_conf")
    submit.add_argument("--py-files", default="", help="comma-separated .py/.zip files your script imports")
    submit.add_argument("job_args", nargs=argparse.REMAINDER, help="the job's own arguments (after an optional --)")
    # Its own dest: a subparser option with the top-level's dest would reset the top-level value.
    submit.add_argument("--inventory", "-i", dest="submit_inventory", help="a name under inventory/ or a path")

    artifacts = commands.add_parser("artifacts", help="Kubernetes binaries and images for offline clusters")
    artifacts_commands = artifacts.add_subparsers(dest="artifacts_command", metavar="ACTION", required=True)
    artifacts_build = artifacts_commands.add_parser(
        "build", help="build them from source (Go modules) into the cache; a second run builds nothing")
    version = artifacts_build.add_mutually_exclusive_group()
    version.add_argument("--kubernetes", metavar="VERSION",
                         help="Kubernetes version (default: the one new inventories pin)")
    version.add_argument("--inventory", "-i", dest="artifacts_inventory",
                         help="take the version from this inventory's cluster_kubernetes_version")

    inventory = commands.add_parser("inventory", help="generate or check an inventory")
    inventory_commands = inventory.add_subparsers(dest="inventory_command", metavar="ACTION", required=True)
    generate = inventory_commands.add_parser("generate", help="write a lab100-style inventory")
    generate.add_argument("name", help="folder name under inventory/ (or a path)")
    generate.add_argument("--node-network", required=True, help="CIDR of the nodes' network, e.g. 10.20.0.0/24")
    generate.add_argument("--first-ip", required=True, help="address of the first node; the rest follow")
    generate.add_argument("--control-planes", type=int, default=1, help="1, 3 or 5")
    generate.add_argument("--control-plane-vip", help="the API's virtual IP, a free node-network address "
                                                      "(needed with 3 or 5 control planes)")
    generate.add_argument("--workers", type=int, required=True)
    generate.add_argument("--gateway", help="default: the network's first address")
    check = inventory_commands.add_parser("check", help="run every inventory check without contacting any node")
    check.add_argument("--inventory", "-i", required=True, help="a name under inventory/ or a path")

    commands.add_parser("settings", help="print the settings reference (every setting, its type, default and "
                                         "description) as Markdown: docs/settings.md")

    report = commands.add_parser("report", help="print the path of a run's timeline.html (tasks per host over "
                                                "time, failures, slowest tasks) and open it when a display exists")
    report.add_argument("run_folder", nargs="?", metavar="RUN",
                        help="a run's artifacts folder, or its name under .artifacts/ (default: the newest run)")

    for name, operation in day2.OPERATIONS.items():
        command = commands.add_parser(name, help=operation.help, epilog=f"runs playbooks/{operation.playbook}")
        if name == "remove-node":
            command.add_argument("node", help="the worker to remove (a host of group workers)")
        if name == "restore":
            command.add_argument("snapshot", type=Path, help="an etcd-*.db of `backup` (its record beside it)")
        if name == "certs":
            command.add_argument("--renew", action="store_true", help="renew every certificate (asks first)")
        if operation.warning or name == "certs":
            command.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
        _add_run_options(command, site=False)
    return parser


def _add_run_options(parser: argparse.ArgumentParser, site: bool = True) -> None:
    """The options of a playbook run: on the top level for site.yml, and again on each day-2 command so they
    may follow it. There they default to nothing set (SUPPRESS): a subcommand's default would otherwise
    replace a value given before the subcommand."""
    def default(value: object) -> object:
        return value if site else argparse.SUPPRESS

    parser.add_argument("--inventory", "-i", default=default(None), help="a name under inventory/ or a path")
    if site:
        scope = parser.add_mutually_exclusive_group()
        scope.add_argument("--role", help="rerun one role on exactly the hosts its play targets")
        scope.add_argument("--phase", help="run one phase of site.yml (its plays' tag), with the node checks")
    parser.add_argument("--tags", default=default(""),
                        help="comma-separated Ansible tags" + (", added to --role/--phase" if site else ""))
    parser.add_argument("--skip-tags", default=default(""), help="comma-separated Ansible tags to skip")
    parser.add_argument("--limit", "-l", default=default(None),
                        help="hosts, groups, or @file (e.g. the retry file a failed run prints)")
    parser.add_argument("--check", action="store_true", default=default(False),
                        help="change nothing; report what would change")
    parser.add_argument("--diff", action="store_true", default=default(False), help="show file differences")
    parser.add_argument("--forks", type=int, default=default(None),
                        help="parallel hosts (default from ansible.cfg: 100)")
    parser.add_argument("--mitogen", choices=mitogen.MODES, default=default("auto"),
                        help="run tasks through Mitogen (auto: when installed; default auto)")
    parser.add_argument("--verbose", "-v", action="count", default=default(0),
                        help="print the ansible-playbook command; -vv.. more")
    parser.add_argument("--quiet", "-q", action="store_true", default=default(False),
                        help="no progress, only the summary")
    parser.add_argument("--ask-become-pass", "-K", action="store_true", default=default(False),
                        help="ask for the nodes' sudo password once (read from stdin when it is not a terminal)")
    if site:
        parser.add_argument("--shards", type=int, default=None, metavar="N",
                            help="run the plays that allow it (clusterboot/shards.py) as N ansible-playbook "
                                 "processes, one per shard of nodes, in parallel (default 1: one process; "
                                 "the controller's cores is the aim once the whole test suite runs sharded)")
        parser.add_argument("--no-jobs", action="store_true", help="do not submit the inventory's spark_submit_jobs after")


def run() -> int:
    """The `clusterboot` command of the installed package: the same CLI as `python bootstrap.py`."""
    return main(sys.argv[1:])


def main(argv: list[str]) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return exit_code(lambda: _dispatch(parser, args))


def exit_code(action) -> int:
    """Run a command; turn its errors into one sentence on stderr and the documented exit code."""
    try:
        return action()
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return err.exit_code
    except RunFailed as err:
        print(f"failed: {err}", file=sys.stderr)
        return err.exit_code
    except Interrupted as err:
        print("interrupted: nodes may be part-way through the task named above; rerun the same command to finish",
              file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("interrupted: nodes may be part-way through the current task; rerun the same command to finish",
              file=sys.stderr)
        return 130


def _dispatch(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    if args.command == "lab":
        return _lab(args)
    if args.command == "inventory":
        return _inventory(args)
    if args.command == "submit":
        return _submit(args)
    if args.command == "artifacts":
        return _artifacts(args)
    if args.command == "report":
        return _report(args)
    if args.command == "settings":
        from clusterboot import settings_doc

        print(settings_doc.render(), end="")
        return EXIT_OK
    if args.command in day2.OPERATIONS:
        return _day2(args)
    if args.inventory is None:
        parser.print_usage(sys.stderr)
        raise UserError("say which inventory to bootstrap: --inventory NAME (a folder under inventory/) or a path")
    return _run_site(args)


def _run_site(args: argparse.Namespace) -> int:
    from clusterboot import ara_record, inventory, playbook_map, runner, usage

    path = inventory.resolve(args.inventory)
    hostvars, groups = inventory.check(path)
    usage.check_limit(args.limit, hostvars, groups, path)
    _check_ssh_keys(hostvars)
    record = ara_record.enabled(path, hostvars)
    # A cluster we did not build has only the Spark phase, run against its kubeconfig.
    site = PLAYBOOKS_DIR / ("external.yml" if inventory.is_external(hostvars) else "site.yml")
    plays = playbook_map.read_plays(site)
    tags = playbook_map.tags_for(plays, args.role, args.phase) + [t for t in args.tags.split(",") if t]
    playbook = playbook_map.playbook_for(plays, site, args.role, args.phase)
    skip_tags = (playbook_map.skip_tags_for(plays, playbook, args.role, ROLES_DIR)
                 + [t for t in args.skip_tags.split(",") if t])
    request = runner.RunRequest(
        inventory=path, playbook=playbook, label=args.role or args.phase or "site", tags=tags,
        skip_tags=skip_tags, limit=args.limit, check=args.check, diff=args.diff,
        forks=args.forks, verbosity=args.verbose, quiet=args.quiet, mitogen=args.mitogen, ara=record,
        become_password=_become_password() if args.ask_become_pass else None,
        # Known here once; as a role default it would start a Python per host each time it is read.
        extra_vars={"pyspark_wheel_version": importlib.metadata.version("pyspark")},
    )
    host_counts = {p.name: len(groups.get(p.hosts, [p.hosts] if p.hosts in hostvars else [])) for p in plays}
    steps = _shard_steps(args, plays, hostvars, groups, request)
    planned = [p.name for p in playbook_map.read_plays(request.playbook)]
    report(runner.run(request, host_counts, steps), sys.argv[1:], planned)
    whole_flow = not (args.role or args.phase or args.tags or args.skip_tags or args.limit or args.check
                      or args.no_jobs)
    if whole_flow:
        from clusterboot import submit

        submit.run_configured_jobs(submit.Cluster.from_inventory(hostvars, groups))
    return EXIT_OK


def _shard_steps(args: argparse.Namespace, plays, hostvars: dict, groups: dict, request) -> list | None:
    """The run as steps when some selected play may be sharded; None for one ansible-playbook, as with
    --shards 1, extra --tags (they may select tasks of any play), or a --limit pattern only Ansible reads."""
    from clusterboot import settings, shards

    count = args.shards if args.shards is not None else 1
    if count < 1:
        raise UserError(f"--shards {count}: give 1 (one ansible-playbook) or more")
    limited_to = shards.limit_hosts(args.limit, hostvars, groups) if count > 1 and not args.tags else None
    if limited_to is None:
        return None
    selected = [p for p in plays if (args.role is None or args.role in p.roles)
                and (args.phase is None or p.phase == args.phase)]
    steps = shards.plan(selected, groups, count, limited_to)
    if not any(step.shards for step in steps):
        return None
    if args.role:  # the role's own tag only: its play may hold other roles
        steps = [dataclasses.replace(step, role_tags=(args.role,)) for step in steps]
    batch = int(settings.with_defaults(hostvars[next(iter(groups.get("k8s_cluster", hostvars)))])
                .get("cluster_install_batch", 0))
    request.shard_vars = {"cluster_install_batch": shards.install_batch(batch, count)} if batch > 0 else {}
    return steps


def _day2(args: argparse.Namespace) -> int:
    from clusterboot import ara_record, inventory, playbook_map, runner, settings, usage

    if args.inventory is None:
        raise UserError(f"say which cluster: {args.command} --inventory NAME (a folder under inventory/) or a path")
    path = inventory.resolve(args.inventory)
    hostvars, groups = inventory.check(path)
    usage.check_limit(args.limit, hostvars, groups, path)
    if inventory.is_external(hostvars):
        raise UserError(f"{args.command}: inventory {path.name} names a cluster by its kubeconfig "
                        "(cluster_kubeconfig); day-2 commands work on the nodes of a cluster bootstrap.py built")
    _check_ssh_keys(hostvars)
    record = ara_record.enabled(path, hostvars)
    operation = day2.OPERATIONS[args.command]
    renew = getattr(args, "renew", False)
    snapshot = args.snapshot.resolve() if args.command == "restore" else None
    extra_vars = day2.extra_vars(args.command, groups, getattr(args, "node", None), renew, snapshot)
    cluster = settings.with_defaults(hostvars[groups["control_plane"][0]])
    kubeconfig = Path(settings.role_setting("control_plane", "control_plane_kubeconfig_local", cluster))
    taken = ""
    if snapshot:  # a snapshot the playbook would refuse is refused here, before anything changes
        from clusterboot import backups

        if args.limit:
            raise UserError("restore --limit: a restore replaces etcd's data on every control plane at once (a "
                            "member left out would keep the old cluster's data); run it without --limit")
        if args.check:
            raise UserError("restore --check: a restore cannot be rehearsed (it stops the control plane); run "
                            "backup to see what a snapshot holds")
        taken = backups.check(snapshot, cluster["cluster_name"], cluster["cluster_kubernetes_version"],
                              kubeconfig.resolve())["taken"]
    if args.command == "backup" and args.check:
        raise UserError("backup --check: a backup changes nothing on the nodes, so there is nothing to rehearse; "
                        "run it without --check")
    if args.command == "upgrade":  # a path kubeadm would refuse is refused here, before anything changes
        from clusterboot import upgrade_path

        upgrade_path.check(kubeconfig.resolve(), cluster["cluster_kubernetes_version"])
        extra_vars["upgrade_batch"] = str(cluster["cluster_upgrade_batch"])
    if renew and args.check:
        raise UserError("certs --renew --check: a renewal cannot be rehearsed (kubeadm has no dry run for it); "
                        "run certs without --renew to see the expiry dates")
    if renew:
        day2.confirm(day2.RENEW_WARNING.format(cluster=cluster["cluster_name"]), args.yes)
    if operation.warning:
        day2.confirm(operation.warning.format(node=getattr(args, "node", ""), cluster=cluster["cluster_name"],
                                              version=cluster["cluster_kubernetes_version"], snapshot=snapshot,
                                              taken=taken), args.yes)
    playbook = PLAYBOOKS_DIR / operation.playbook
    request = runner.RunRequest(
        inventory=path, playbook=playbook, label=args.command, tags=[t for t in args.tags.split(",") if t],
        skip_tags=[t for t in args.skip_tags.split(",") if t], limit=args.limit, check=args.check, diff=args.diff,
        forks=args.forks, verbosity=args.verbose, quiet=args.quiet, mitogen=args.mitogen, ara=record,
        become_password=_become_password() if getattr(args, "ask_become_pass", False) else None,
        extra_vars={"pyspark_wheel_version": importlib.metadata.version("pyspark"), **extra_vars},
    )
    plays = playbook_map.read_plays(playbook)
    host_counts = {p.name: day2.host_count(p.hosts, groups) for p in plays}
    # certs: an earlier run's dates must never pass for this one's.
    certs_report = (Path(settings.role_setting("control_plane", "control_plane_certs_report", cluster))
                    if args.command == "certs" else None)
    if certs_report:
        certs_report.unlink(missing_ok=True)
    code = report(runner.run(request, host_counts), sys.argv[1:], [p.name for p in plays])
    if certs_report:
        _print_certs(certs_report, cluster, groups["control_plane"][0])
    if args.command == "backup" and code == 0:
        from clusterboot import backups

        backup_dir = Path(settings.role_setting("control_plane", "control_plane_backup_dir", cluster))
        print(f"snapshot: {backups.newest(backup_dir.resolve())}")
    return code


def _print_certs(path: Path, cluster: dict, writer: str) -> None:
    """The table of the report playbooks/certs.yml wrote on `writer`'s play, or why there is none."""
    from clusterboot import certs, settings

    if not path.exists():
        print(f"no expiry report was written ({path}): the run stopped before it, or --limit or --tags left out "
              f"{writer}, which writes it")
        return
    warning_days = int(settings.role_setting("control_plane", "control_plane_certs_warning_days", cluster))
    print(certs.table(json.loads(path.read_text()), warning_days))


def _become_password() -> str:
    """The nodes' sudo password: prompted without echo on a terminal, else the first line of stdin."""
    if sys.stdin.isatty():
        import getpass

        return getpass.getpass("BECOME password (sudo on the nodes): ")
    password = sys.stdin.readline().rstrip("\n")
    if not password:
        raise UserError("--ask-become-pass: stdin is not a terminal and its first line is empty; "
                        "pipe the sudo password in, or run from a terminal")
    return password


def report(outcome, argv: list[str], planned_plays: list[str] | None = None) -> int:
    """Print the summary of a playbook run; raise what its outcome means for the exit code."""
    from clusterboot import summary

    print(summary.render(outcome.state, outcome.artifacts, argv, outcome.rc, outcome.interrupted, planned_plays,
                         outcome.recorded), flush=True)
    if outcome.interrupted is not None:
        raise Interrupted(outcome.interrupted)
    if outcome.rc != 0:
        raise RunFailed(f"ansible-playbook exited {outcome.rc} ({outcome.status}); see the summary above")
    return EXIT_OK


def _report(args: argparse.Namespace) -> int:
    """A run's timeline: drawn now from its events when the run has none (a run from before timelines)."""
    import os
    import webbrowser

    from clusterboot import runner, timeline

    folder = timeline.find_run(args.run_folder, runner.ARTIFACTS_DIR, runner.past_runs())
    path = folder / timeline.FILE_NAME
    if not path.exists() and timeline.write(folder) is None:
        raise UserError(f"report: no task results in {folder} (no job_events, or ansible-playbook stopped before "
                        "its first task); see its artifacts/*/stdout")
    print(path)
    # Without a display webbrowser would start a text browser in this terminal, or nothing: the path is enough.
    if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        webbrowser.open(path.resolve().as_uri())
    return EXIT_OK


def _submit(args: argparse.Namespace) -> int:
    from clusterboot import inventory, submit

    name = args.submit_inventory or args.inventory
    if name is None:
        raise UserError("say which cluster to submit to: --inventory NAME")
    submit.check_job(args.job)
    path = inventory.resolve(name)
    cluster = submit.Cluster.from_inventory(*inventory.check(path))
    job_args = args.job_args[1:] if args.job_args[:1] == ["--"] else args.job_args
    conf = dict(pair.split("=", 1) for pair in args.conf if "=" in pair)
    if len(conf) != len(args.conf):
        raise UserError(f"--conf takes KEY=VALUE; got {', '.join(c for c in args.conf if '=' not in c)}")
    py_files = [Path(p).resolve() for p in args.py_files.split(",") if p]
    result = submit.submit(cluster, args.job, job_args, conf, py_files)
    print(submit.report(args.job, result))
    if result.rc != 0:
        raise RunFailed(f"job {args.job} exited {result.rc}; see {result.log}")
    return EXIT_OK


def _artifacts(args: argparse.Namespace) -> int:
    from clusterboot import inventory, inventory_writer, settings
    from clusterboot.artifacts import build

    version = args.kubernetes or inventory_writer.KUBERNETES_VERSION
    if args.artifacts_inventory:
        hostvars, _ = inventory.check(inventory.resolve(args.artifacts_inventory))
        version = str(settings.with_defaults(next(iter(hostvars.values()), {}))["cluster_kubernetes_version"])
    if not re.fullmatch(r"1\.\d+\.\d+", version or ""):
        raise UserError(f"Kubernetes version {version!r} is not MAJOR.MINOR.PATCH, e.g. 1.36.5")
    report = build.build(version, build.default_cache(), log=lambda line: print(line, flush=True))
    size = sum(f.stat().st_size for f in report.folder.rglob("*") if f.is_file())
    what = ", ".join(report.built) if report.built else "nothing (all cached)"
    print(f"artifacts: {report.folder} ({size / 2**20:.0f} MiB) in {report.seconds:.0f} s; built: {what}")
    return EXIT_OK


def _check_ssh_keys(hostvars: dict[str, dict]) -> None:
    """A missing private key would fail on every host at once: say it once, before any SSH."""
    for host, variables in hostvars.items():
        key = variables.get("ansible_ssh_private_key_file") or variables.get("ansible_private_key_file")
        if key and "{{" not in str(key) and not Path(str(key)).expanduser().exists():
            raise UserError(f"host {host}: SSH key {key} (ansible_ssh_private_key_file) does not exist; "
                            "create it or fix the path (for the lab: python bootstrap.py lab up)")


def _lab(args: argparse.Namespace) -> int:
    from clusterboot.lab import lab

    cfg = lab.LabConfig(project_dir=PROJECT_DIR)
    if args.lab_command == "up":
        seconds = lab.up(cfg, args.nodes, args.control_planes, args.package_cache, args.spark_manager,
                         args.sudo_user)
        print(f"lab up: {args.nodes} nodes answer SSH after {seconds:.1f}s; inventory: {cfg.inventory_dir}")
    elif args.lab_command == "image":
        print(lab.image(cfg))
    elif args.lab_command == "status":
        rows = lab.status(cfg)
        for name, state, ip in rows:
            print(f"{name:20} {state:10} {ip}")
        print(f"{len(rows)} lab containers")
    else:
        lab.down(cfg)
    return EXIT_OK


def _inventory(args: argparse.Namespace) -> int:
    from clusterboot import inventory_writer

    if args.inventory_command == "generate":
        target = Path(args.name) if "/" in args.name else INVENTORIES_DIR / args.name
        spec = inventory_writer.InventorySpec(
            name=target.name, node_network=args.node_network, first_ip=args.first_ip,
            control_planes=args.control_planes, workers=args.workers, gateway=args.gateway,
            control_plane_vip=args.control_plane_vip,
        )
        inventory_writer.write_inventory(spec, target)
        print(f"wrote {target}/hosts.yml and {target}/group_vars/all.yml")
        return EXIT_OK
    from clusterboot import inventory

    path = inventory.resolve(args.inventory)
    hostvars, groups = inventory.check(path)
    if inventory.is_external(hostvars):
        print(f"inventory {path.name}: the cluster of {hostvars['localhost']['cluster_kubeconfig']}, no problems found")
    else:
        print(f"inventory {path.name}: {len(groups.get('k8s_cluster', []))} nodes, no problems found")
    return EXIT_OK
