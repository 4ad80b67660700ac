#!/usr/bin/python
"""Keep a systemd service enabled, running, and running the current version of the files it reads.

A handler is lost when a run dies between a config change and the end of the play (Ctrl-C, a dropped SSH
session, the controller's power): the next run finds the file already right, reports ok, and the service keeps
running the old config. This module compares the files' modification times with the time the service last
started, so every later run still sees the change; roles use it instead of "started" plus a restart handler.
"""

from __future__ import annotations

import os
import time

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: fresh_service
short_description: Keep a systemd service enabled, running, and restarted after its files change
description:
  - Reloads systemd when it reports a changed unit file (NeedDaemonReload) or when a unit file or drop-in
    in O(paths) is not the one it loaded (systemd does not notice a new drop-in folder), enables the unit, starts it when
    it is not running, and restarts it when one of O(paths) was modified after it last started
    (ActiveEnterTimestampMonotonic).
  - A directory in O(paths) counts with every file and folder beneath it (a folder's time changes when an
    entry is added or removed, which catches unpacked archives whose files keep their packed times).
  - Fails when the unit is not running after a start or restart (a failed start, or an unmet Condition). A failed
    start that systemd retries by itself (the unit's C(Restart=)) is waited for, up to 180 s.
  - Idempotent, and supports check mode.
options:
  name:
    description: The systemd unit. Give O(name) with O(paths), O(enabled) and O(start), or O(units).
    type: str
  paths:
    description: Files or directories the service reads at start. Missing paths are ignored.
    type: list
    elements: path
    default: []
  enabled:
    description: Whether the unit starts at boot.
    type: bool
    default: true
  start:
    description: Start the unit when it is not running. False for a unit another tool starts (kubelet, which
      kubeadm starts); it is still restarted after its files change once it runs.
    type: bool
    default: true
  units:
    description: Several units handled in order in one call (one remote call per node instead of one per unit),
      each with its own O(name), O(paths), O(enabled) and O(start). A failed unit fails the call; later units
      are left as they were.
    type: list
    elements: dict
"""

EXAMPLES = r"""
- name: Keep containerd running its current config
  fresh_service:
    name: containerd
    paths: [/etc/containerd/config.toml]

- name: Keep containerd, then Docker, running their current config (one call per node)
  fresh_service:
    units:
      - {name: containerd, paths: [/etc/containerd/config.toml]}
      - {name: docker, paths: [/etc/docker/daemon.json]}
"""

RETURN = r"""
units:
  description: With O(units), each unit's O(name) with its own RV(actions), RV(newer) and RV(auto_restarted).
  type: list
  elements: dict
  returned: when O(units) is given
actions:
  description: What was done, in order (daemon-reload, enable, start, restart).
  type: list
  elements: str
  returned: when O(name) is given
newer:
  description: The paths modified after the service last started.
  type: list
  elements: str
  returned: when O(name) is given
auto_restarted:
  description: The start or restart failed, and the unit came up on systemd's own automatic restart (its Restart=).
  type: bool
  returned: when O(name) is given
"""

PROPERTIES = "ActiveState,ActiveEnterTimestampMonotonic,NeedDaemonReload,UnitFileState,FragmentPath,DropInPaths"
SHOW_ATTEMPTS = 5
# A start that failed but that systemd retries by itself (the unit's Restart=) may come up this late: on 100 lab
# nodes at load 40-100, one dockerd gave up on a slow containerd (systemctl restart failed) and came up on
# systemd's automatic restart 70 s later.
AUTO_RESTART_WAIT_SECONDS = 180


# The last lines of a failed start's journal in its error: enough for the cause, short enough for a summary.
JOURNAL_LINES = 4


def mtimes(path: str) -> list[tuple[str, float]]:
    if os.path.isdir(path):
        found = []
        for root, _, files in os.walk(path):
            found.append((root, os.stat(root).st_mtime))
            found.extend((os.path.join(root, name), os.stat(os.path.join(root, name)).st_mtime) for name in files)
        return found
    return [(path, os.stat(path).st_mtime)] if os.path.exists(path) else []


def not_loaded(props: dict[str, str], files: list[str]) -> list[str]:
    """Unit files and drop-ins among these files that systemd has not loaded (a new one: no NeedDaemonReload)."""
    loaded = set(props.get("DropInPaths", "").split()) | {props.get("FragmentPath", "")}
    return [f for f in files if (f.endswith(".service") or os.path.dirname(f).endswith(".service.d"))
            and f.endswith((".service", ".conf")) and f not in loaded]


UNIT_OPTIONS = {"paths": {"type": "list", "elements": "path", "default": []},
                "enabled": {"type": "bool", "default": True},
                "start": {"type": "bool", "default": True}}


def main() -> None:
    module = AnsibleModule(argument_spec={"name": {"type": "str"}, **UNIT_OPTIONS,
                                          "units": {"type": "list", "elements": "dict",
                                                    "options": {"name": {"type": "str", "required": True},
                                                                **UNIT_OPTIONS}}},
                           mutually_exclusive=[("name", "units")], required_one_of=[("name", "units")],
                           supports_check_mode=True)
    systemctl = module.get_bin_path("systemctl", required=True)
    if module.params["units"] is None:
        result = keep_fresh(module, systemctl, module.params)
        module.exit_json(changed=bool(result["actions"]), **result)
    # In order, in one call: containerd before docker, which dials it.
    results = [{"name": unit["name"], **keep_fresh(module, systemctl, unit)} for unit in module.params["units"]]
    module.exit_json(changed=any(r["actions"] for r in results), units=results)


def keep_fresh(module: AnsibleModule, systemctl: str, unit: dict) -> dict:
    """Reload, enable, start or restart one unit as its options ask; fails the module when it does not come up."""
    name = unit["name"]

    def journal_tail() -> str:
        """The unit's own last words, so a failed start says why without a second command: systemd's lines
        about the unit (Starting, Failed to start, status=1/FAILURE) are left out, they only repeat that it failed."""
        _rc, out, _err = module.run_command(["journalctl", "-u", name, "-n", "60", "--no-pager", "-o", "cat"])
        unit_file = name if "." in name else f"{name}.service"
        own = [line.strip() for line in out.splitlines() if line.strip() and not line.startswith(
            (f"{unit_file}:", "Starting ", "Started ", "Stopping ", "Stopped ", "Failed to start "))]
        return " | ".join(own[-JOURNAL_LINES:])

    def systemctl_run(*args: str) -> str:
        rc, out, err = module.run_command([systemctl, *args])
        if rc != 0 and args[0] in ("start", "restart") and came_up_on_its_own():
            auto_restarted.append(args[0])
            return out
        if rc != 0:
            said = (err or out).strip()
            if args[0] in ("start", "restart") and (tail := journal_tail()):
                said = f"its journal ends: {tail} (systemctl: {said})"
            module.fail_json(msg=f"systemctl {' '.join(args)}: {said}")
        return out

    def show(properties: str) -> dict[str, str]:
        """The unit's properties. Asked again when systemd answers without ActiveState: on 100 lab nodes at
        load 100, one `systemctl show` right after a restart printed none of them while containerd was up."""
        said: dict[str, str] = {}
        for _ in range(SHOW_ATTEMPTS):
            said = dict(line.split("=", 1) for line in systemctl_run("show", f"--property={properties}", name)
                        .splitlines() if "=" in line)
            if "ActiveState" in said:
                break
            time.sleep(1)
        return said

    def came_up_on_its_own() -> bool:
        """After a failed start: whether systemd's own Restart= brought the unit up within AUTO_RESTART_WAIT_SECONDS
        (it stays `activating` while a restart is pending or under way)."""
        deadline = time.monotonic() + AUTO_RESTART_WAIT_SECONDS
        while True:
            state = show("ActiveState").get("ActiveState")
            if state == "active" or state != "activating" or time.monotonic() > deadline:
                return state == "active"
            time.sleep(1)

    auto_restarted: list[str] = []
    props = show(PROPERTIES)
    actions, newer = [], []
    files = [p for path in unit["paths"] for p, _ in mtimes(path) if not os.path.isdir(p)]
    if props.get("NeedDaemonReload") == "yes" or not_loaded(props, files):
        actions.append("daemon-reload")
    if unit["enabled"] and props.get("UnitFileState") not in ("enabled", "static", "enabled-runtime",
                                                               "alias", "indirect", "generated"):
        actions.append("enable")
    if props.get("ActiveState") != "active":
        if unit["start"]:
            actions.append("start")  # a start reads the current files
    else:
        # systemd's monotonic microseconds since boot, moved onto the wall clock that file times use.
        since = time.time() - time.monotonic() + int(props["ActiveEnterTimestampMonotonic"]) / 1e6
        newer = sorted(p for path in unit["paths"] for p, mtime in mtimes(path) if mtime > since)
        if newer:
            actions.append("restart")
    if not module.check_mode:
        for action in actions:
            systemctl_run(action) if action == "daemon-reload" else systemctl_run(action, name)
        if {"start", "restart"} & set(actions):
            after = show("ActiveState,ConditionResult,Result")
            if after.get("ActiveState") not in ("active", "activating", "reloading"):
                module.fail_json(msg=f"{name} is {after.get('ActiveState')} after systemctl {actions[-1]} "
                                     f"(condition met: {after.get('ConditionResult')}, result: {after.get('Result')}); "
                                     f"its journal ends: {journal_tail() or '(nothing)'}", actions=actions, newer=newer)
    return {"actions": actions, "newer": newer, "auto_restarted": bool(auto_restarted)}


if __name__ == "__main__":
    main()
