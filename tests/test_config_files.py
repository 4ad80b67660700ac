"""The config_files action and module (plugins/action, plugins/modules): a role's files in one call to the node.

Real ansible-playbook runs against this machine (connection local), writing under a temporary folder."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parent.parent
ANSIBLE_PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"

# Blocks, a loop, ansible_managed, a variable from the entry's vars and a trailing newline: what the roles'
# templates use, so the bytes must match the template action's.
TEMPLATE = """# {{ ansible_managed }}
{% for name in names %}
[{{ name }}]
  server = "{{ registry.host }}"
{% endfor %}
{% if registry.insecure %}
insecure = true
{% endif %}
"""
PLAYBOOK = """
- hosts: local
  gather_facts: false
  vars:
    names: [one, two]
  roles: [files]
"""
TASKS = """
- name: The template action, as a loop
  ansible.builtin.template:
    src: hosts.toml.j2
    dest: "{{ out }}/by-template/{{ item.host }}.toml"
    mode: "0644"
  vars:
    registry: "{{ item }}"
  loop: "{{ registries }}"
  when: with_template | default(false) | bool

- name: The same files in one call
  config_files:
    directories:
      - {path: "{{ out }}/by-config-files/sub", mode: "0750"}
      - {path: "{{ out }}/never", wanted: false}
    files: "{{ registries | map('community.general.dict_kv', 'registry')
               | zip(registries | map(attribute='host')) | map('files_entry', out) }}"
"""
FILTER = '''
def files_entry(pair, out):
    vars_, host = pair
    return {"template": "hosts.toml.j2", "dest": f"{out}/by-config-files/sub/{host}.toml", "vars": vars_,
            "wanted": host != "skipped"}


class FilterModule:
    def filters(self):
        return {"files_entry": files_entry}
'''
REGISTRIES = [{"host": "one:5000", "insecure": True}, {"host": "two:443", "insecure": False},
              {"host": "skipped", "insecure": False}]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    role = tmp_path / "roles" / "files"
    (role / "tasks").mkdir(parents=True)
    (role / "templates").mkdir()
    (role / "tasks" / "main.yml").write_text(TASKS)
    (role / "templates" / "hosts.toml.j2").write_text(TEMPLATE)
    (tmp_path / "filter_plugins").mkdir()
    (tmp_path / "filter_plugins" / "entries.py").write_text(FILTER)
    (tmp_path / "site.yml").write_text(PLAYBOOK)
    (tmp_path / "hosts.yml").write_text(
        json.dumps({"local": {"hosts": {"localhost": {"ansible_connection": "local",
                                                       "ansible_python_interpreter": sys.executable}}}}))
    (tmp_path / "out" / "by-template").mkdir(parents=True)
    return tmp_path


def converge(project: Path, *options: str, registries: list[dict] = REGISTRIES) -> tuple[int, dict]:
    """Runs the role; returns the exit status and the config_files task's result."""
    proc = subprocess.run(
        [str(ANSIBLE_PLAYBOOK), "-i", str(project / "hosts.yml"), str(project / "site.yml"),
         "-e", json.dumps({"out": str(project / "out"), "registries": registries}), *options],
        capture_output=True, text=True, cwd=project, check=False,
        env={**os.environ, "ANSIBLE_CONFIG": str(PROJECT / "ansible.cfg"), "ANSIBLE_STDOUT_CALLBACK": "json",
             "ANSIBLE_ROLES_PATH": str(project / "roles"), "ANSIBLE_FILTER_PLUGINS": str(project / "filter_plugins"),
             "ANSIBLE_CACHE_PLUGIN_CONNECTION": str(project / "facts")})
    plays = json.loads(proc.stdout)["plays"]
    task = next(t for t in plays[0]["tasks"] if t["task"]["name"].endswith("The same files in one call"))
    return proc.returncode, task["hosts"]["localhost"]


def test_writes_the_template_actions_bytes_in_one_call_then_changes_nothing(project: Path):
    rc, result = converge(project, "-e", "with_template=true")
    assert rc == 0 and result["changed"]
    out = project / "out"
    for host in ("one:5000", "two:443"):
        written = out / "by-config-files" / "sub" / f"{host}.toml"
        assert written.read_bytes() == (out / "by-template" / f"{host}.toml").read_bytes()
        assert stat.S_IMODE(written.stat().st_mode) == 0o644
    assert "insecure = true" in (out / "by-config-files" / "sub" / "one:5000.toml").read_text()
    assert stat.S_IMODE((out / "by-config-files" / "sub").stat().st_mode) == 0o750
    # wanted: false leaves the file and the folder alone
    assert not (out / "by-config-files" / "sub" / "skipped.toml").exists() and not (out / "never").exists()
    assert result["written"] == [str(out / "by-config-files" / "sub"), str(out / "by-config-files/sub/one:5000.toml"),
                                 str(out / "by-config-files/sub/two:443.toml")]

    rc, again = converge(project)
    assert rc == 0 and not again["changed"] and again["written"] == []


def test_only_what_differs_is_written_and_check_mode_writes_nothing(project: Path):
    converge(project)
    sub = project / "out" / "by-config-files" / "sub"
    (sub / "two:443.toml").chmod(0o600)
    first = (sub / "one:5000.toml").stat().st_mtime_ns
    changed = [dict(REGISTRIES[0], insecure=False), REGISTRIES[1]]

    rc, checked = converge(project, "--check", "--diff", registries=changed)
    assert rc == 0 and checked["changed"]
    assert checked["written"] == [str(sub / "one:5000.toml"), str(sub / "two:443.toml")]
    assert "insecure = true" in (sub / "one:5000.toml").read_text()
    assert stat.S_IMODE((sub / "two:443.toml").stat().st_mode) == 0o600
    diff = next(d for d in checked["diff"] if d.get("after_header") == str(sub / "one:5000.toml"))
    assert "insecure = true" in diff["before"] and "insecure = true" not in diff["after"]

    rc, result = converge(project, registries=changed)
    assert rc == 0 and result["written"] == [str(sub / "one:5000.toml"), str(sub / "two:443.toml")]
    assert "insecure" not in (sub / "one:5000.toml").read_text()
    assert (sub / "one:5000.toml").stat().st_mtime_ns > first
    assert stat.S_IMODE((sub / "two:443.toml").stat().st_mode) == 0o644


def test_a_file_whose_folder_is_missing_fails_naming_it(project: Path):
    tasks = project / "roles" / "files" / "tasks" / "main.yml"
    tasks.write_text(TASKS.replace("/by-config-files/sub\", mode", "/elsewhere\", mode"))
    rc, result = converge(project)
    assert rc != 0 and result["failed"]
    assert f"its folder {project}/out/by-config-files/sub does not exist" in result["msg"]
    assert not (project / "out" / "by-config-files").exists() and not (project / "out" / "elsewhere").exists()


def test_a_missing_template_fails_naming_the_file_before_anything_is_written(project: Path):
    (project / "roles" / "files" / "templates" / "hosts.toml.j2").rename(project / "elsewhere.j2")
    rc, result = converge(project)
    assert rc != 0 and result["failed"]
    assert result["msg"].startswith(f"{project}/out/by-config-files/sub/one:5000.toml: ")
    assert "hosts.toml.j2" in result["msg"]
    assert not (project / "out" / "by-config-files").exists()


LINKS_AND_BLOCKS = """
- hosts: local
  gather_facts: false
  tasks:
    - name: Links and blocks
      config_files:
        links: [{path: "{{ out }}/swap.target", target: /dev/null}]
        blocks:
          - {dest: "{{ out }}/hosts", marker: "# {mark} nodes", content: "{{ nodes | join('\\n') }}\\n"}
"""


def converge_links_and_blocks(project: Path, nodes: list[str], *options: str) -> tuple[int, dict]:
    (project / "links.yml").write_text(LINKS_AND_BLOCKS)
    proc = subprocess.run(
        [str(ANSIBLE_PLAYBOOK), "-i", str(project / "hosts.yml"), str(project / "links.yml"),
         "-e", json.dumps({"out": str(project / "out"), "nodes": nodes}), *options],
        capture_output=True, text=True, cwd=project, check=False,
        env={**os.environ, "ANSIBLE_CONFIG": str(PROJECT / "ansible.cfg"), "ANSIBLE_STDOUT_CALLBACK": "json",
             "ANSIBLE_CACHE_PLUGIN_CONNECTION": str(project / "facts")})
    return proc.returncode, json.loads(proc.stdout)["plays"][0]["tasks"][0]["hosts"]["localhost"]


def test_a_link_and_a_block_are_kept_then_left_alone(project: Path):
    out = project / "out"
    (out / "hosts").write_text("127.0.0.1 localhost\n# BEGIN nodes\n10.0.0.9 gone\n# END nodes\n::1 localhost")
    rc, result = converge_links_and_blocks(project, ["10.0.0.1 cp01", "10.0.0.2 wk001"])
    assert rc == 0 and result["written"] == [str(out / "swap.target"), str(out / "hosts")]
    assert os.readlink(out / "swap.target") == "/dev/null"
    # The old block is replaced where it was; the lines around it are kept as they were.
    assert (out / "hosts").read_text() == ("127.0.0.1 localhost\n# BEGIN nodes\n10.0.0.1 cp01\n10.0.0.2 wk001\n"
                                           "# END nodes\n::1 localhost")
    rc, again = converge_links_and_blocks(project, ["10.0.0.1 cp01", "10.0.0.2 wk001"])
    assert rc == 0 and not again["changed"] and again["written"] == []

    # Markers missing: the block is appended, after a newline the file lacked.
    (out / "hosts").write_text("127.0.0.1 localhost")
    (out / "swap.target").unlink()
    (out / "swap.target").symlink_to("/lib/systemd/system/swap.target")
    rc, result = converge_links_and_blocks(project, ["10.0.0.1 cp01"], "--check")
    assert rc == 0 and result["written"] == [str(out / "swap.target"), str(out / "hosts")]
    assert (out / "hosts").read_text() == "127.0.0.1 localhost"
    rc, result = converge_links_and_blocks(project, ["10.0.0.1 cp01"])
    assert rc == 0 and os.readlink(out / "swap.target") == "/dev/null"
    assert (out / "hosts").read_text() == "127.0.0.1 localhost\n# BEGIN nodes\n10.0.0.1 cp01\n# END nodes\n"


@pytest.mark.parametrize("broken, message", [
    ("unit file", "swap.target exists and is not a link: move it away, then rerun"),
    ("no hosts", "hosts does not exist: a block goes into an existing file"),
])
def test_a_link_over_a_file_or_a_block_in_a_missing_file_is_refused_before_anything_is_written(
        project: Path, broken: str, message: str):
    out = project / "out"
    if broken == "unit file":
        (out / "swap.target").write_text("[Unit]\n")
        (out / "hosts").write_text("127.0.0.1 localhost\n")
    rc, result = converge_links_and_blocks(project, ["10.0.0.1 cp01"])
    assert rc != 0 and result["failed"] and result["msg"].endswith(message)
    assert not (out / "hosts").exists() or (out / "hosts").read_text() == "127.0.0.1 localhost\n"
    assert not (out / "swap.target").is_symlink()
