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
  - Points each link in O(links) at its target (C(systemctl mask) is such a link, to V(/dev/null)).
  - Keeps one marked block of lines in each file of O(blocks), as M(ansible.builtin.blockinfile) does with its
    default markers' layout, appended at the end where the markers are missing.
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
  links:
    description: Symbolic links to keep. Each one's folder must exist, or be in O(directories).
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: The link. A file or folder already there is refused, as C(systemctl mask) refuses it.
        type: path
        required: true
      target:
        description: What it points at.
        type: str
        required: true
  blocks:
    description: Blocks of lines to keep in files that exist.
    type: list
    elements: dict
    default: []
    suboptions:
      dest:
        description: The file.
        type: path
        required: true
      marker:
        description: The marker lines, with C({mark}) standing for BEGIN and END.
        type: str
        required: true
      content:
        description: The lines between the markers.
        type: str
        required: true
      unsafe_writes:
        description: Write the file in place when it cannot be replaced by a rename (a bind-mounted file).
        type: bool
        default: false
  daemon_reload:
    description: Reload systemd's manager after writing anything, as C(systemctl mask) does, so that a unit
      masked or changed here is seen as such now and not only after a reboot.
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Write containerd's config
  config_files:
    files:
      - {dest: /etc/containerd/config.toml, template: containerd-config.toml.j2}
"""

RETURN = r"""
written:
  description: The folders created, the files written or whose mode was set, the links and the blocks' files
    written, in order.
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


def replace(module: AnsibleModule, dest: str, data: bytes, unsafe_writes: bool = False) -> None:
    """Writes `data` to a temporary file beside `dest` and renames it over `dest` (in place, with
    `unsafe_writes`, where no rename can replace it)."""
    handle, staged = tempfile.mkstemp(dir=os.path.dirname(dest), prefix=f".{os.path.basename(dest)}.")
    with os.fdopen(handle, "wb") as out:
        out.write(data)
    module.atomic_move(staged, dest, unsafe_writes=unsafe_writes)


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
        replace(module, dest, wanted)
        module.set_mode_if_different(dest, spec["mode"], True)
    diffs.append({"before_header": dest, "after_header": dest, "after": text,
                  "before": "" if before is None else before.decode("utf-8", "replace")})
    return True


def ensure_link(module: AnsibleModule, spec: dict, diffs: list) -> bool:
    path, target = spec["path"], spec["target"]
    if os.path.islink(path) and os.readlink(path) == target:
        return False
    before = os.readlink(path) if os.path.islink(path) else None
    if not module.check_mode:
        # Made beside it and renamed over it, so the link is never missing.
        staged = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.{os.getpid()}")
        os.symlink(target, staged)
        os.replace(staged, path)
    diffs.append({"before": {"path": path, "target": before}, "after": {"path": path, "target": target}})
    return True


def with_block(text: str, spec: dict) -> str:
    """The file's text with the block between its markers, or appended with them where they are missing."""
    begin, end = (spec["marker"].replace("{mark}", mark) for mark in ("BEGIN", "END"))
    block = [f"{line}\n" for line in (begin, *spec["content"].splitlines(), end)]
    lines = text.splitlines(keepends=True)
    bare = [line.rstrip("\r\n") for line in lines]
    if begin in bare and end in bare[bare.index(begin):]:
        first = bare.index(begin)
        last = bare.index(end, first)
        return "".join(lines[:first] + block + lines[last + 1:])
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    return "".join(lines + block)


def ensure_block(module: AnsibleModule, spec: dict, diffs: list) -> bool:
    dest = spec["dest"]
    with open(dest, encoding="utf-8") as current:
        before = current.read()
    after = with_block(before, spec)
    if after == before:
        return False
    if not module.check_mode:
        replace(module, dest, after.encode("utf-8"), unsafe_writes=spec["unsafe_writes"])
    diffs.append({"before_header": dest, "after_header": dest, "before": before, "after": after})
    return True


def refusal(params: dict) -> str | None:
    """Why the call cannot be made, found before anything is written so that a bad call changes nothing."""
    folders = {os.path.normpath(spec["path"]) for spec in params["directories"]}
    for dest in [spec["dest"] for spec in params["files"]] + [spec["path"] for spec in params["links"]]:
        folder = os.path.dirname(dest)
        if not os.path.isdir(folder) and folder not in folders:
            return (f"{dest}: its folder {folder} does not exist; list it in directories, "
                    "or install the package that owns it first")
    for spec in params["links"]:
        if os.path.lexists(spec["path"]) and not os.path.islink(spec["path"]):
            return f"{spec['path']} exists and is not a link: move it away, then rerun"
    for spec in params["blocks"]:
        if not os.path.isfile(spec["dest"]):
            return f"{spec['dest']} does not exist: a block goes into an existing file"
        if "{mark}" not in spec["marker"]:
            return (f"{spec['dest']}: the marker {spec['marker']!r} has no {{mark}}, "
                    "so its two lines would be the same")
    return None


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
            "links": {"type": "list", "elements": "dict", "default": [], "options": {
                "path": {"type": "path", "required": True},
                "target": {"type": "str", "required": True}}},
            "blocks": {"type": "list", "elements": "dict", "default": [], "options": {
                "dest": {"type": "path", "required": True},
                "marker": {"type": "str", "required": True},
                "content": {"type": "str", "required": True},
                "unsafe_writes": {"type": "bool", "default": False}}},
            "daemon_reload": {"type": "bool", "default": False},
        },
        supports_check_mode=True,
    )
    problem = refusal(module.params)
    if problem:
        module.fail_json(msg=problem)
    diffs: list = []
    written = [spec["path"] for spec in module.params["directories"] if ensure_directory(module, spec, diffs)]
    written += [spec["dest"] for spec in module.params["files"] if ensure_file(module, spec, diffs)]
    written += [spec["path"] for spec in module.params["links"] if ensure_link(module, spec, diffs)]
    written += [spec["dest"] for spec in module.params["blocks"] if ensure_block(module, spec, diffs)]
    if written and module.params["daemon_reload"] and not module.check_mode:
        module.run_command(["systemctl", "daemon-reload"], check_rc=True)
    module.exit_json(changed=bool(written), written=written, diff=diffs)


if __name__ == "__main__":
    main()
