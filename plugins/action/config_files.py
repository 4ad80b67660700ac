"""Render a role's configuration files on the controller, and write them all in one call to each node.

Ansible's template action costs each file a remote stat and a copy or file call, and a loop still costs each
node a call per item: on a 100-node no-op, base's five templated files took 15.7 s as one loop. This action
renders every file with the template action's settings and sends the texts to the config_files module
(plugins/modules/config_files.py) once, which writes what differs.
"""

from __future__ import annotations

import os

from ansible.errors import AnsibleActionFail, AnsibleError
from ansible.plugins.action import ActionBase
from ansible.template import generate_ansible_template_vars, trust_as_template

ARGUMENT_SPEC = {
    "directories": {"type": "list", "elements": "dict", "default": [], "options": {
        "path": {"type": "path", "required": True},
        "mode": {"type": "raw", "default": "0755"},
        # False: leave this folder alone on this node (as a loop item whose `when` is false).
        "wanted": {"type": "bool", "default": True}}},
    "files": {"type": "list", "elements": "dict", "default": [], "options": {
        "dest": {"type": "path", "required": True},
        # A template in the role's templates/, or the text itself.
        "template": {"type": "str"},
        "content": {"type": "str"},
        # Variables the template reads beyond the task's (what a loop would call `item`).
        "vars": {"type": "dict", "default": {}},
        "mode": {"type": "raw", "default": "0644"},
        "wanted": {"type": "bool", "default": True}},
        "required_one_of": [["template", "content"]], "mutually_exclusive": [["template", "content"]]},
    # Passed to the module as they are (plugins/modules/config_files.py documents them).
    "links": {"type": "list", "elements": "dict", "default": []},
    "blocks": {"type": "list", "elements": "dict", "default": []},
    "daemon_reload": {"type": "bool", "default": False},
}
# The template action's defaults (trim_blocks on, lstrip_blocks off, \n), so the same template gives the same bytes.
TEMPLATE_OVERRIDES = {"trim_blocks": True, "lstrip_blocks": False, "newline_sequence": "\n"}


class ActionModule(ActionBase):
    TRANSFERS_FILES = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        _, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        directories = [{"path": spec["path"], "mode": spec["mode"]} for spec in args["directories"] if spec["wanted"]]
        files = [{"dest": spec["dest"], "mode": spec["mode"], "content": self._text(spec, task_vars or {})}
                 for spec in args["files"] if spec["wanted"]]
        result.update(self._execute_module(module_name="ansible.legacy.config_files", task_vars=task_vars,
                                           module_args={"directories": directories, "files": files,
                                                        "links": args["links"], "blocks": args["blocks"],
                                                        "daemon_reload": args["daemon_reload"]}))
        return result

    def _text(self, spec: dict, task_vars: dict) -> str:
        if spec["template"] is None:
            return spec["content"]
        try:
            source = self._find_needle("templates", spec["template"])
        except AnsibleError as error:
            raise AnsibleActionFail(f"{spec['dest']}: {error}") from error
        # Includes and imports inside the template are looked for as the template action looks for them.
        searchpath = [*task_vars.get("ansible_search_path", []), self._loader._basedir, os.path.dirname(source)]
        searchpath = [path for folder in searchpath for path in (os.path.join(folder, "templates"), folder)]
        template_vars = generate_ansible_template_vars(path=spec["template"], fullpath=source, dest_path=spec["dest"])
        if "ansible_managed" in task_vars:  # the inventory's own wins, as with the template action
            del template_vars["ansible_managed"]
        variables = {**task_vars, **template_vars, **spec["vars"]}
        templar = self._templar.copy_with_new_env(searchpath=searchpath, available_variables=variables)
        text = templar.template(trust_as_template(self._loader.get_text_file_contents(source)),
                                escape_backslashes=False, overrides=TEMPLATE_OVERRIDES)
        return "" if text is None else text
