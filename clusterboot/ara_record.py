"""ARA (ARA Records Ansible) as an opt-in run recorder, for operators who already use it.

With the inventory's cluster_ara_record true, every ansible-playbook the runner starts loads ARA's own callback
(ara_default), which records the playbook, its plays, tasks, hosts and results in ARA's database: by default
SQLite under ~/.ara/server (ARA_BASE_DIR moves it), or the ARA API server the operator's ARA_API_CLIENT=http and
ARA_API_SERVER name. ARA's CLI (`ara playbook list`) and web UI (`ara-manage runserver`) show them; nothing here
reads or writes that database.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from clusterboot import settings
from clusterboot.errors import UserError

SETTING = "cluster_ara_record"
CALLBACK = "ara_default"  # the name of ARA's callback plugin
INSTALL = f'{sys.executable} -m pip install "ara[server]"'  # into the Python ansible-playbook runs on


def callback_plugins() -> str | None:
    """ARA's callback folder, as `python3 -m ara.setup.callback_plugins` prints it; None when this Python (the one
    ansible-playbook runs on) cannot import ara."""
    try:
        setup = importlib.import_module("ara.setup")
    except ImportError:
        return None
    return str(setup.callback_plugins)


def enabled(inventory: Path, hostvars: dict[str, dict[str, Any]]) -> bool:
    """The inventory's cluster_ara_record (inventory-wide: any host's value over the declared default). True while
    ara cannot be imported is refused here, before any node is contacted."""
    variables = next(iter(hostvars.values()), {})
    if settings.with_defaults(variables)[SETTING] is not True:
        return False
    if callback_plugins() is None:
        raise UserError(f"inventory {inventory.name}: {SETTING} is true but ARA is not installed in this Python; "
                        f"run `{INSTALL}` or set {SETTING}: false")
    return True


def callback_env(environ: Mapping[str, str]) -> dict[str, str]:
    """ansible-playbook's environment for ARA's callback: its folder after the callback folders `environ` names and
    ara_default after the callbacks it enables (ansible-runner adds its own folder after these; ansible.cfg names
    neither setting, so these replace nothing of the project's)."""
    folder = callback_plugins()
    if folder is None:
        raise UserError(f"{SETTING}: ARA is not installed in this Python; run `{INSTALL}`")
    return {"ANSIBLE_CALLBACK_PLUGINS": _appended(environ.get("ANSIBLE_CALLBACK_PLUGINS", ""), folder, os.pathsep),
            "ANSIBLE_CALLBACKS_ENABLED": _appended(environ.get("ANSIBLE_CALLBACKS_ENABLED", ""), CALLBACK, ",")}


def _appended(value: str, item: str, separator: str) -> str:
    items = [part for part in value.split(separator) if part.strip()]
    return separator.join(items if item in (part.strip() for part in items) else [*items, item])


def where(environ: Mapping[str, str]) -> str:
    """The summary's line: where ARA's callback sent the run (ARA's defaults unless `environ` changes them) and
    how to see it."""
    if environ.get("ARA_API_CLIENT") == "http":
        server = environ.get("ARA_API_SERVER") or "http://127.0.0.1:8000"
        return f"ara: recorded by the ARA API server {server}; see it there or with `ara playbook list`"
    base = environ.get("ARA_BASE_DIR") or str(Path("~/.ara/server").expanduser())
    return (f"ara: recorded in {Path(base) / 'ansible.sqlite'}; see it with `ara playbook list` or "
            "`ara-manage runserver`")
