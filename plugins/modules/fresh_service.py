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
  - Fails when the unit is not running after a start or restart (a failed start, or an unmet Condition).
  - Idempotent, and supports check mode.
options:
  name:
    description: The systemd unit.
    type: str
    required: true
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
"""

EXAMPLES = r"""
- name: Keep containerd running its current config
  fresh_service:
    name: containerd
    paths: [/etc/containerd/config.toml]
"""

RETURN = r"""
actions:
  description: What was done, in order (daemon-reload, enable, start, restart).
  type: list
  elements: str
  returned: always
newer:
  description: The paths modified after the service last started.
  type: list
  elements: str
  returned: always
"""

PROPERTIES = "ActiveState,ActiveEnterTimestampMonotonic,NeedDaemonReload,UnitFileState,FragmentPath,DropInPaths"


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


def main() -> None:
    module = AnsibleModule(argument_spec={"name": {"type": "str", "required": True},
                                          "paths": {"type": "list", "elements": "path", "default": []},
                                          "enabled": {"type": "bool", "default": True},
                                          "start": {"type": "bool", "default": True}},
                           supports_check_mode=True)
    name = module.params["name"]
    systemctl = module.get_bin_path("systemctl", required=True)

    def systemctl_run(*args: str) -> str:
        rc, out, err = module.run_command([systemctl, *args])
        if rc != 0:
            module.fail_json(msg=f"systemctl {' '.join(args)}: {(err or out).strip()}")
        return out

    props = dict(line.split("=", 1) for line in systemctl_run("show", f"--property={PROPERTIES}", name).splitlines()
                 if "=" in line)
    actions, newer = [], []
    files = [p for path in module.params["paths"] for p, _ in mtimes(path) if not os.path.isdir(p)]
    if props.get("NeedDaemonReload") == "yes" or not_loaded(props, files):
        actions.append("daemon-reload")
    if module.params["enabled"] and props.get("UnitFileState") not in ("enabled", "static", "enabled-runtime",
                                                                          "alias", "indirect", "generated"):
        actions.append("enable")
    if props.get("ActiveState") != "active":
        if module.params["start"]:
            actions.append("start")  # a start reads the current files
    else:
        # systemd's monotonic microseconds since boot, moved onto the wall clock that file times use.
        since = time.time() - time.monotonic() + int(props["ActiveEnterTimestampMonotonic"]) / 1e6
        newer = sorted(p for path in module.params["paths"] for p, mtime in mtimes(path) if mtime > since)
        if newer:
            actions.append("restart")
    if not module.check_mode:
        for action in actions:
            systemctl_run(action) if action == "daemon-reload" else systemctl_run(action, name)
        if {"start", "restart"} & set(actions):
            after = dict(line.split("=", 1) for line in systemctl_run(
                "show", "--property=ActiveState,ConditionResult,Result", name).splitlines() if "=" in line)
            if after.get("ActiveState") not in ("active", "activating", "reloading"):
                module.fail_json(msg=f"{name} is {after.get('ActiveState')} after systemctl {actions[-1]} "
                                     f"(condition met: {after.get('ConditionResult')}, result: {after.get('Result')}); "
                                     f"see journalctl -u {name}", actions=actions, newer=newer)
    module.exit_json(changed=bool(actions), actions=actions, newer=newer)


if __name__ == "__main__":
    main()
