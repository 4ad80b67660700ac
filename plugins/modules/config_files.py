#!/usr/bin/python
"""Write a role's configuration files, and the folders they go in, in one call to the node.

The config_files action (plugins/action/config_files.py) renders the templates on the controller and sends their
text here once. Ansible's template action stats each file, then calls copy or file on the node: two calls per
file, on every node, on every rerun.
"""

from __future__ import annotations

import os
import tempfile

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: config_files
short_description: Write several files and folders in one call, each only when its content or mode differs
description:
  - Creates each folder in O(directories) that is missing, then writes each file in O(files) whose content
    differs from O(files[].content), through a temporary file in the same folder and a rename (as copy does).
  - Sets the mode of every folder and file that differs. A file it replaces keeps its owner.
  - Use the config_files action, which renders templates into O(files[].content); this module is its node half.
  - Idempotent, and supports check mode and diff mode.
options:
  directories:
    description: Folders to create, before any file is written.
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: The folder. Its missing parents are created too.
        type: path
        required: true
      mode:
        description: Its mode.
        type: raw
        default: "0755"
  files:
    description: Files to write. Each one's folder must exist, or be in O(directories).
    type: list
    elements: dict
    default: []
    suboptions:
      dest:
        description: The file.
        type: path
        required: true
      content:
        description: Its whole text.
        type: str
        required: true
      mode:
        description: Its mode.
        type: raw
        default: "0644"
"""

EXAMPLES = r"""
- name: Write containerd's config
  config_files:
    files:
      - {dest: /etc/containerd/config.toml, template: containerd-config.toml.j2}
"""

RETURN = r"""
written:
  description: The folders created and the files written, or whose mode was set, in order.
  type: list
  elements: str
  returned: always
"""


def ensure_directory(module: AnsibleModule, spec: dict, diffs: list) -> bool:
    path = spec["path"]
    if os.path.isdir(path):
        return module.set_mode_if_different(path, spec["mode"], False)
    if os.path.lexists(path):
        module.fail_json(msg=f"{path} exists and is not a folder: move it away, then rerun")
    if not module.check_mode:
        os.makedirs(path)
        module.set_mode_if_different(path, spec["mode"], True)
    diffs.append({"before": {"path": path, "state": "absent"}, "after": {"path": path, "state": "directory"}})
    return True


def ensure_file(module: AnsibleModule, spec: dict, diffs: list) -> bool:
    dest, text = spec["dest"], spec["content"]
    if os.path.isdir(dest):
        module.fail_json(msg=f"{dest} is a folder, where a file belongs: move it away, then rerun")
    try:
        with open(dest, "rb") as current:
            before = current.read()
    except FileNotFoundError:
        before = None
    wanted = text.encode("utf-8")
    if before == wanted:
        return module.set_mode_if_different(dest, spec["mode"], False)
    if not module.check_mode:
        handle, staged = tempfile.mkstemp(dir=os.path.dirname(dest), prefix=f".{os.path.basename(dest)}.")
        with os.fdopen(handle, "wb") as out:
            out.write(wanted)
        module.atomic_move(staged, dest)
        module.set_mode_if_different(dest, spec["mode"], True)
    diffs.append({"before_header": dest, "after_header": dest, "after": text,
                  "before": "" if before is None else before.decode("utf-8", "replace")})
    return True


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "directories": {"type": "list", "elements": "dict", "default": [], "options": {
                "path": {"type": "path", "required": True},
                "mode": {"type": "raw", "default": "0755"}}},
            "files": {"type": "list", "elements": "dict", "default": [], "options": {
                "dest": {"type": "path", "required": True},
                "content": {"type": "str", "required": True},
                "mode": {"type": "raw", "default": "0644"}}},
        },
        supports_check_mode=True,
    )
    # Refused before anything is written, so a bad call changes nothing on the node.
    folders = {os.path.normpath(spec["path"]) for spec in module.params["directories"]}
    for spec in module.params["files"]:
        folder = os.path.dirname(spec["dest"])
        if not os.path.isdir(folder) and folder not in folders:
            module.fail_json(msg=f"{spec['dest']}: its folder {folder} does not exist; list it in directories, "
                                 "or install the package that owns it first")
    diffs: list = []
    written = [spec["path"] for spec in module.params["directories"] if ensure_directory(module, spec, diffs)]
    written += [spec["dest"] for spec in module.params["files"] if ensure_file(module, spec, diffs)]
    module.exit_json(changed=bool(written), written=written, diff=diffs)


if __name__ == "__main__":
    main()
