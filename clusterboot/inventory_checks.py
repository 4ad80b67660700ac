"""Inventory-level checks, run before any node is contacted.

The one home of the inventory checks: the CLI (`clusterboot.inventory`: every run, `inventory check`) and the
preflight role (its `cluster_inventory_errors` filter, roles/preflight/filter_plugins/, a shim over this
module) call the same code, so `bootstrap.py inventory check` and the playbook agree.

The source of truth for every setting is the argument specs: each role's meta/argument_specs.yml, and
the `inventory` entry point of the preflight role for the inventory-wide cluster_* and spark_submit_*
settings. Every value the inventory sets for a declared variable is checked against its spec (type,
choices, elements, options, required). Formats and ranges that an argument spec cannot express are tags
at the end of the option's description (Ansible reads the description as plain text):

    [format=NAME]   the value (each element, for a list) has that format; see FORMATS below
    [range=LO..HI]  a number between LO and HI inclusive; either end may be left open ([range=1..])

(`=`, not `: `, so that a description stays a plain YAML scalar.)

A spec whose default is "" also accepts the empty string. A Jinja-templated value ("{{ ... }}") is
accepted as it is: it means something only on the node, at run time.

Every message starts with the file that sets the value (when it is known), then the host or group,
then the variable and what to change; all problems are reported at once.
"""

from __future__ import annotations

import difflib
import functools
import ipaddress
import json
import os
import re
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import yaml

from clusterboot.paths import PROJECT_DIR, ROLES_DIR

# The preflight entry point that declares the inventory-wide settings (not a role's own variables).
INVENTORY_ENTRY_POINT = ("preflight", "inventory")

# kubelet registers the node under its hostname: it must be a DNS-1123 label.
HOSTNAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
TAG_RE = re.compile(r"\[(format|range)=\s*([^\]]+?)\s*\]")
# Groups the playbooks target by name (playbooks/*.yml, roles' groups['...']).
NODE_GROUPS = ("control_plane", "workers")
ALL_NODES_GROUP = "k8s_cluster"
# How many control planes a cluster may have (stacked etcd: an odd number of members).
CONTROL_PLANE_COUNTS = (1, 3, 5)
# Optional: the nodes that run Kafka brokers (the kafka role); each must be a node.
KAFKA_GROUP = "kafka"


# --- formats -----------------------------------------------------------------------------------------

def _ipv4_network(value: str, _ctx: Any) -> str | None:
    try:
        ipaddress.IPv4Network(value)
    except ValueError as err:
        return f"is not an IPv4 network in CIDR form such as 10.20.0.0/24 ({err})"
    return None if "/" in value else "has no prefix length; write it in CIDR form such as 10.20.0.0/24"


def _ip(version: int | None) -> Callable[[str, Any], str | None]:
    def check(value: str, _ctx: Any) -> str | None:
        try:
            address = ipaddress.ip_address(value)
        except ValueError:
            return f"is not an {'IPv4 ' if version == 4 else 'IP '}address"
        if version and address.version != version:
            return "is not an IPv4 address"
        return None
    return check


def _ipv4_interface(value: str, _ctx: Any) -> str | None:
    try:
        ipaddress.IPv4Interface(value)
    except ValueError:
        return "is not an IPv4 address with prefix length such as 10.20.0.11/24"
    return None if "/" in value else "has no prefix length; write it such as 10.20.0.11/24"


DNS_NAME_RE = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?)*$")


def _host(value: str, _ctx: Any) -> str | None:
    try:
        ipaddress.ip_address(value)
        return None
    except ValueError:
        pass
    return None if DNS_NAME_RE.match(value) else "is neither a host name nor an IP address"


def _host_port(value: str, ctx: Any) -> str | None:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 1 <= int(port) <= 65535 or _host(host.strip("[]"), ctx):
        return "is not HOST:PORT (a host name or address, a port 1-65535), e.g. cp01:5000"
    return None


IMAGE_PATH_RE = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
IMAGE_REPOSITORY_RE = re.compile(rf"^(?:[A-Za-z0-9.-]+(?::\d{{1,5}})?/)?{IMAGE_PATH_RE}(?:/{IMAGE_PATH_RE})*$")
IMAGE_RE = re.compile(rf"^(?:[A-Za-z0-9.-]+(?::\d{{1,5}})?/)?{IMAGE_PATH_RE}(?:/{IMAGE_PATH_RE})*"
                      r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[0-9a-f]{64})?$")


def _image_repository(value: str, _ctx: Any) -> str | None:
    # A bare registry (host:port, or a name with a dot) is a repository prefix too.
    if IMAGE_REPOSITORY_RE.match(value) or re.match(r"^[A-Za-z0-9.-]+(:\d{1,5})?$", value):
        return None
    return "is not an image registry/repository such as registry.k8s.io or cp01:5000 (lowercase path, no tag)"


def _url(value: str, _ctx: Any) -> str | None:
    return None if re.match(r"^https?://[^/\s:]+(:\d+)?(/\S*)?$", value) else "is not an http(s):// URL"


def _regex(pattern: str, hint: str) -> Callable[[str, Any], str | None]:
    compiled = re.compile(pattern)
    return lambda value, _ctx: None if compiled.fullmatch(value) else hint


def _inventory_host(value: str, ctx: Any) -> str | None:
    nodes = ctx.get("nodes", ()) if isinstance(ctx, Mapping) else ()
    if value in nodes:
        return None
    close = difflib.get_close_matches(value, list(nodes), n=1)
    return (f"is not a node of this inventory{f' (did you mean {close[0]}?)' if close else ''}; "
            "name a host of control_plane or workers")


def _kubeadm_check(value: str, _ctx: Any) -> str | None:
    if value.lower() == "all":
        return "is 'all', which would hide every kubeadm preflight problem; name the checks to ignore"
    return None if re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", value) else "is not a kubeadm preflight check name"


FORMATS: dict[str, Callable[[str, Any], str | None]] = {
    "kubernetes-version": _regex(r"1\.\d{1,3}\.\d{1,3}", "is not a Kubernetes version MAJOR.MINOR.PATCH without v, e.g. 1.36.5"),
    "kubernetes-minor": _regex(r"1\.\d{1,3}", "is not a Kubernetes minor version such as 1.36"),
    # Kafka 4 runs KRaft only, which is what the kafka role configures.
    "kafka-version": _regex(r"4\.\d{1,3}\.\d{1,3}", "is not a Kafka 4 release such as 4.1.1 (the kafka role runs KRaft, Kafka 4 only)"),
    "kafka-cluster-id": _regex(r"|[A-Za-z0-9_-]{22}", "is not a KRaft cluster id (22 characters of URL-safe base64, as `kafka-storage random-uuid` prints) or empty"),
    "v-version": _regex(r"v\d+\.\d+\.\d+", "is not a release such as v3.30.3 (with the v)"),
    "deb-revision": _regex(r"[0-9][A-Za-z0-9.+~]*", "is not a Debian revision such as 1.1 (quote it in YAML)"),
    "ipv4-network": _ipv4_network,
    "ipv4-address": _ip(4),
    "ip-address": _ip(None),
    "ipv4-interface": _ipv4_interface,
    "host": _host,
    "host-port": _host_port,
    "inventory-host": _inventory_host,
    "image-repository": _image_repository,
    "image": lambda v, _c: None if IMAGE_RE.match(v) else "is not an image reference such as registry.k8s.io/pause:3.10.1",
    "url": _url,
    "mac": _regex(r"[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}", "is not a MAC address such as 52:54:00:12:34:56"),
    "sha256": _regex(r"[0-9a-f]{64}", "is not a sha256 (64 lowercase hex digits)"),
    "sha512": _regex(r"[0-9a-f]{128}", "is not a sha512 (128 lowercase hex digits)"),
    "gpg-fingerprint": _regex(r"[0-9A-F]{40}", "is not a 40-digit uppercase hex key fingerprint"),
    # Go durations (kubeadm token TTL): 2h, 90m, 1h30m; 0 means never expires.
    "duration": _regex(r"0|(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+", "is not a duration such as 2h, 90m or 1h30m"),
    # Docker's json-file max-size: 100m, 1g, 512k.
    "docker-size": _regex(r"\d+(\.\d+)?\s?[kKmMgG]?[bB]?", "is not a size such as 100m, 1g or 512k"),
    # JVM/Spark memory: 512m, 2g, 4096 (MiB).
    "jvm-size": _regex(r"(?i)\d+([kmgtp]b?|b)?", "is not a memory size such as 512m or 2g"),
    # Kubernetes resource quantities (kubelet's reserved CPU and memory): 100m, 0.5, 512Mi, 1Gi.
    # Kubernetes' suffixes: binary Ki..Ei, decimal m, k (lowercase), M..E; a bare K is not a quantity.
    "k8s-quantity": _regex(r"\d+(\.\d+)?([KMGTPE]i|[mkMGTPE])?", "is not a Kubernetes quantity such as 100m, 512Mi or 1Gi"),
    "absolute-path": _regex(r"/.*", "is not an absolute path (it must start with /)"),
    "dns-label": _regex(HOSTNAME_RE.pattern[1:-1], "is not a lowercase DNS label (a-z, 0-9, '-', at most 63)"),
    "dns-subdomain": _regex(r"(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*",
                            "is not a lowercase DNS name (a-z, 0-9, '-', '.')"),
    "user-name": _regex(r"[a-z_][a-z0-9_-]{0,31}", "is not a Linux user name (lowercase, starts with a letter or _)"),
    "kubeadm-check": _kubeadm_check,
    "batch-size": _regex(r"[1-9]\d*|([1-9]\d?|100)%", "is not a batch size: a number of nodes such as 5, or a share such as 20%"),
}


# --- specs -------------------------------------------------------------------------------------------

class Spec:
    """One option of an argument spec, with the format and range tags of its description."""

    def __init__(self, name: str, data: Mapping[str, Any], where: str):
        self.name = name
        self.where = where
        self.type = data.get("type", "str")
        self.required = bool(data.get("required", False))
        self.choices = list(data["choices"]) if isinstance(data.get("choices"), list) else None
        self.default = data.get("default")
        self.elements = data.get("elements")
        self.options = {k: Spec(k, v or {}, where) for k, v in (data.get("options") or {}).items()}
        description = data.get("description", "")
        text = " ".join(description) if isinstance(description, list) else str(description)
        self.formats: list[str] = []
        self.range: tuple[float | None, float | None] | None = None
        for kind, value in TAG_RE.findall(text):
            if kind == "format":
                if value not in FORMATS:
                    raise ValueError(f"{where}: {name}: unknown [format={value}]; known: {', '.join(FORMATS)}")
                self.formats.append(value)
            else:
                low, _, high = value.partition("..")
                self.range = (float(low) if low.strip() else None, float(high) if high.strip() else None)


LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _yaml(path: Path) -> Any:
    try:
        return yaml.load(path.read_text(), Loader=LOADER)
    except (OSError, yaml.YAMLError):
        return None


@functools.lru_cache(maxsize=4)
def load_specs(roles_dir: str = str(ROLES_DIR)) -> dict[str, Spec]:
    """Every option of every entry point of every role's argument specs, by variable name."""
    specs: dict[str, Spec] = {}
    for path in sorted(Path(roles_dir).glob("*/meta/argument_specs.y*ml")):
        data = yaml.load(path.read_text(), Loader=LOADER) or {}  # a broken spec file must not pass silently
        for entry, body in (data.get("argument_specs") or {}).items():
            for name, option in ((body or {}).get("options") or {}).items():
                specs.setdefault(name, Spec(name, option or {}, f"{path.parent.parent.name}:{entry}"))
    return specs


def _set_names(node: Any) -> Iterable[str]:
    """Variables that tasks create (register, set_fact): they are in hostvars later in a run."""
    if isinstance(node, list):
        for item in node:
            yield from _set_names(item)
    elif isinstance(node, dict):
        if isinstance(node.get("register"), str):
            yield node["register"]
        for key in ("ansible.builtin.set_fact", "set_fact"):
            if isinstance(node.get(key), dict):
                yield from (k for k in node[key] if k != "cacheable")
        for value in node.values():
            yield from _set_names(value)


@functools.lru_cache(maxsize=4)
def known_variables(roles_dir: str = str(ROLES_DIR)) -> frozenset[str]:
    """Names a role declares (specs), sets a default for, or creates at run time."""
    roles = Path(roles_dir)
    names = set(load_specs(roles_dir))
    for path in [*roles.glob("*/defaults/main.y*ml"), *roles.glob("*/vars/main.y*ml")]:
        data = _yaml(path)
        if isinstance(data, dict):
            names.update(data)
    for path in [*roles.glob("*/tasks/**/*.y*ml"), *(roles.parent / "playbooks").glob("**/*.y*ml")]:
        names.update(_set_names(_yaml(path)))
    return frozenset(names)


@functools.lru_cache(maxsize=4)
def checked_prefixes(roles_dir: str = str(ROLES_DIR)) -> tuple[str, ...]:
    """A variable with one of these prefixes must be known: a typo would otherwise be silently ignored."""
    roles = sorted(p.name + "_" for p in Path(roles_dir).iterdir() if (p / "meta").is_dir())
    return ("cluster_", "spark_", *roles)


def _close(word: str, candidates: list[str], cutoff: float = 0.6) -> list[str]:
    """The candidate the word most likely meant (case aside), as a list of at most one."""
    lowered = {c.lower(): c for c in candidates}
    if word.lower() in lowered:
        return [lowered[word.lower()]]
    return [lowered[m] for m in difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=cutoff)]


def _templated(value: Any) -> bool:
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def _type_name(value: Any) -> str:
    """Plain YAML type names; Ansible wraps inventory values in tagged subclasses."""
    if value is None:
        return "null"
    for kind in (bool, int, float, str, list, dict):
        if isinstance(value, kind):
            return kind.__name__
    return type(value).__name__


def _show(value: Any) -> str:
    """The value as the operator wrote it, cut to 60 characters."""
    text = None
    for kind in (bool, int, float, str):
        if isinstance(value, kind):
            text = repr(kind(value))
            break
    if text is None:
        try:
            text = json.dumps(value, default=str)
        except (TypeError, ValueError):
            text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


TYPE_HINTS = {
    "bool": " (write true or false, unquoted)",
    "int": " (a whole number, unquoted)",
    "float": " (a number, unquoted)",
    "str": " (quote it)",
    "path": " (quote it)",
    "list": " (a YAML list such as [a, b])",
    "dict": " (a YAML mapping such as {key: value})",
}


def _type_ok(kind: str, value: Any) -> bool:
    if kind in ("str", "path"):
        return isinstance(value, str)
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "float":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "list":
        return isinstance(value, (list, tuple))
    if kind == "dict":
        return isinstance(value, Mapping)
    return True  # raw, json, jsonarg, bytes, bits


def value_problems(spec: Spec, value: Any, name: str, ctx: Mapping[str, Any]) -> list[str]:
    """What is wrong with this value for this spec, each as 'name: problem'."""
    if _templated(value):
        return []
    if value is None:
        if spec.type in ("raw", "json", "jsonarg"):
            return []
        return [f"{name}: is empty (null); give it a {spec.type} value or remove the line"]
    if not _type_ok(spec.type, value):
        if spec.type in ("str", "path") and isinstance(value, (int, float)) and not isinstance(value, bool):
            hint = f' (quote it: "{value}")'
        else:
            hint = TYPE_HINTS.get(spec.type, "")
        return [f"{name}: is {_type_name(value)} {_show(value)}, must be {spec.type}{hint}"]
    problems: list[str] = []
    if spec.type == "list":
        element = Spec(name, {"type": spec.elements or "raw", "options": {}}, spec.where)
        element.options, element.formats, element.range = spec.options, spec.formats, spec.range
        element.choices, element.default = spec.choices, spec.default
        for index, item in enumerate(value):
            problems += value_problems(element, item, f"{name}[{index}]", ctx)
        return problems
    if spec.choices is not None and value not in spec.choices:
        close = _close(str(value), [str(c) for c in spec.choices])
        problems.append(f"{name}: {_show(value)} is not one of {', '.join(str(c) for c in spec.choices)}"
                        + (f" (did you mean {close[0]}?)" if close else ""))
    if isinstance(value, str) and not (value == "" and spec.default == ""):
        for fmt in spec.formats:
            problem = FORMATS[fmt](value, ctx)
            if problem:
                problems.append(f"{name}: {_show(value)} {problem}")
    if spec.range is not None and isinstance(value, (int, float)) and not isinstance(value, bool):
        low, high = spec.range
        if (low is not None and value < low) or (high is not None and value > high):
            span = (f"between {low:g} and {high:g}" if low is not None and high is not None
                    else f"at least {low:g}" if low is not None else f"at most {high:g}")
            problems.append(f"{name}: is {value}, must be {span}")
    if isinstance(value, Mapping) and spec.options:
        for key in value:
            if key not in spec.options:
                close = _close(str(key), list(spec.options))
                problems.append(f"{name}: unknown key {key!r}" + (f" (did you mean {close[0]}?)" if close else "")
                                + f"; known keys: {', '.join(spec.options)}")
        for key, option in spec.options.items():
            if key in value:
                problems += value_problems(option, value[key], f"{name}.{key}", ctx)
            elif option.required:
                problems.append(f"{name}: has no {key}; every entry needs {', '.join(k for k, o in spec.options.items() if o.required)}")
    return problems


# --- where a value comes from ------------------------------------------------------------------------

def _var_files(folder: Path, name: str) -> list[Path]:
    """Ansible's group_vars/host_vars lookup: NAME, NAME.yml/.yaml/.json, or a folder NAME/ of such files."""
    files = [folder / f"{name}{ext}" for ext in ("", ".yml", ".yaml", ".json")]
    found = [f for f in files if f.is_file()]
    if (folder / name).is_dir():
        found += sorted(f for f in (folder / name).rglob("*") if f.is_file() and f.suffix in ("", ".yml", ".yaml", ".json"))
    return found


def _inline_vars(node: Any, group: str, out: dict) -> None:
    """Variables written inside a YAML hosts file, by ('group'|'host', name)."""
    if not isinstance(node, dict):
        return
    if isinstance(node.get("vars"), dict):
        out.setdefault(("group", group), {}).update(node["vars"])
    for host, variables in (node.get("hosts") or {}).items() if isinstance(node.get("hosts"), dict) else ():
        if isinstance(variables, dict):
            out.setdefault(("host", str(host)), {}).update(variables)
    for child, body in (node.get("children") or {}).items() if isinstance(node.get("children"), dict) else ():
        _inline_vars(body, str(child), out)


class Sources:
    """Finds the file, and the host or group in it, that sets a variable for a host (Ansible's precedence)."""

    def __init__(self, hostvars: Mapping[str, Mapping[str, Any]], groups: Mapping[str, list[str]]):
        self.groups = groups
        self.memberships: dict[str, list[str]] = {}
        # More specific groups (fewer hosts) first, `all` last: the order Ansible's precedence gives.
        for group in sorted(groups, key=lambda g: (g == "all", len(groups[g]), g)):
            for host in groups[group]:
                self.memberships.setdefault(host, []).append(group)
        self.files: dict[tuple[str, str], list[tuple[Path, dict]]] = {}
        self.inline: dict[tuple[str, str], dict] = {}
        self.inventory_file: Path | None = None
        inventory_files = {str(v.get("inventory_file")) for v in hostvars.values() if v.get("inventory_file")}
        for name in sorted(inventory_files):
            path = Path(name)
            self.inventory_file = self.inventory_file or path
            data = _yaml(path) if path.suffix in (".yml", ".yaml") else None
            if isinstance(data, dict):
                for group, body in data.items():
                    inline: dict = {}
                    _inline_vars(body, str(group), inline)
                    for key, variables in inline.items():
                        self.inline.setdefault(key, {}).update(variables)
            for kind, folder in (("group", path.parent / "group_vars"), ("host", path.parent / "host_vars")):
                if not folder.is_dir():
                    continue
                for entry in folder.iterdir():
                    stem = entry.name if entry.is_dir() else entry.name.rsplit(".", 1)[0] if entry.suffix else entry.name
                    for file in _var_files(folder, stem):
                        data = _yaml(file)
                        if isinstance(data, dict):
                            pair = (file, data)
                            bucket = self.files.setdefault((kind, stem), [])
                            if all(p[0] != file for p in bucket):
                                bucket.append(pair)

    def _candidates(self, host: str) -> Iterable[tuple[Path | None, str, str, dict]]:
        for file, data in self.files.get(("host", host), []):
            yield file, "host", host, data
        if ("host", host) in self.inline:
            yield self.inventory_file, "host", host, self.inline[("host", host)]
        for group in self.memberships.get(host, ["all"]):
            for file, data in self.files.get(("group", group), []):
                yield file, "group", group, data
        for group in self.memberships.get(host, ["all"]):
            if ("group", group) in self.inline:
                yield self.inventory_file, "group", group, self.inline[("group", group)]

    def of(self, host: str, key: str) -> str:
        """'FILE: group all' or 'FILE: host wk001' for the source of host's key; 'host wk001' when unknown."""
        for file, kind, name, data in self._candidates(host):
            if key in data:
                return f"{display(file)}: {kind} {name}" if file else f"{kind} {name}"
        return f"host {host}"

    def group(self, group: str) -> str:
        return f"{display(self.inventory_file)}: group {group}" if self.inventory_file else f"group {group}"

    def host(self, host: str) -> str:
        return f"{display(self.inventory_file)}: host {host}" if self.inventory_file else f"host {host}"


def display(path: Path | None) -> str:
    if path is None:
        return ""
    try:
        return os.path.relpath(path) if Path(path).resolve().is_relative_to(Path.cwd()) else str(path)
    except (OSError, ValueError):
        return str(path)


# --- the checks --------------------------------------------------------------------------------------

class Problems:
    """An ordered set of messages, each 'WHERE: WHAT'."""

    def __init__(self) -> None:
        self.items: dict[str, None] = {}

    def add(self, where: str, what: str) -> None:
        self.items[f"{where}: {what}" if where else what] = None

    def list(self) -> list[str]:
        return list(self.items)


def _shape_problems(groups: Mapping[str, list[str]], sources: Sources, problems: Problems) -> list[str]:
    """The hosts the plays target are exactly the nodes checked here; returns those nodes."""
    control_planes = list(groups.get("control_plane", []))
    workers = list(groups.get("workers", []))
    for group in (*NODE_GROUPS, ALL_NODES_GROUP):
        if group not in groups:
            children = " with control_plane and workers as its children" if group == ALL_NODES_GROUP else ""
            problems.add(sources.group(group), f"missing; the playbooks target it: declare it{children}")
    if "control_plane" in groups and not control_planes:
        problems.add(sources.group("control_plane"), "has no hosts; put at least one host in it")
    elif len(control_planes) not in CONTROL_PLANE_COUNTS:
        # Stacked etcd needs a majority: an even count adds a member that can fail without adding a survivable loss.
        problems.add(sources.group("control_plane"),
                     f"has {len(control_planes)} hosts ({', '.join(control_planes)}); use 1, 3 or 5 control planes "
                     "(etcd keeps answering while a majority lives: 3 survive the loss of one, 5 of two)")
    if "workers" in groups and not workers:
        problems.add(sources.group("workers"), "has no hosts; Spark's executors run on workers (the control "
                                               "plane is tainted): put at least one host in it")
    for host in sorted(set(control_planes) & set(workers)):
        problems.add(sources.host(host), "is in both control_plane and workers; a node is one or the other: "
                                         "remove it from one of them")
    nodes = sorted(set(control_planes) | set(workers))
    if ALL_NODES_GROUP in groups:
        cluster = set(groups[ALL_NODES_GROUP])
        for host in sorted(set(nodes) - cluster):
            problems.add(sources.host(host), f"is in {'control_plane' if host in control_planes else 'workers'} but "
                                             f"not in {ALL_NODES_GROUP}, so the nodes phase would skip it: make "
                                             f"control_plane and workers the children of {ALL_NODES_GROUP}")
        for host in sorted(cluster - set(nodes)):
            problems.add(sources.host(host), f"is in {ALL_NODES_GROUP} but in neither control_plane nor workers, "
                                             "so it would be prepared but never join: put it in workers or remove it")
        nodes = sorted(cluster | set(nodes))
    for host in sorted(set(groups.get(KAFKA_GROUP, [])) - set(nodes)):
        problems.add(sources.host(host), f"is in {KAFKA_GROUP} but not a node ({ALL_NODES_GROUP}), so the nodes "
                                         "phase would not prepare it: add it to workers or control_plane")
    for host in sorted(groups.get("ungrouped", [])):
        problems.add(sources.host(host), "is in no group, so no play targets it: put it in control_plane or "
                                         "workers, or remove it")
    return nodes


def _spec_problems(hostvars: Mapping[str, Mapping[str, Any]], nodes: list[str], sources: Sources,
                   problems: Problems) -> None:
    specs = load_specs()
    known = known_variables()
    prefixes = checked_prefixes()
    ctx = {"nodes": nodes}
    required = [s for s in specs.values() if s.required]
    missing: dict[str, list[str]] = {}
    for host in nodes:
        variables = hostvars[host]
        for key, value in variables.items():
            spec = specs.get(key)
            if spec is not None:
                for problem in value_problems(spec, value, key, ctx):
                    problems.add(sources.of(host, key), problem)
            elif key.startswith(prefixes) and key not in known:
                close = _close(key, sorted(known), cutoff=0.75)
                hint = f"did you mean {close[0]}?" if close else "no role reads it: remove it or fix its name"
                problems.add(sources.of(host, key), f"{key}: unknown variable; {hint}")
        for spec in required:
            if spec.name not in variables:
                missing.setdefault(spec.name, []).append(host)
    for name, hosts in missing.items():
        if name == "node_ip":
            for host in hosts:
                problems.add(sources.host(host), f"host {host}: node_ip is missing; give every node its static address")
        elif len(hosts) == len(nodes):
            problems.add("", f"{name}: missing; set it in group_vars/all.yml")
        else:
            problems.add(f"host {', '.join(hosts)}", f"{name}: missing; set it for these hosts too")


def _kubernetes_source_problems(cluster: Mapping[str, Any], where: Callable[[str], str], problems: Problems) -> None:
    """An offline install needs an artifacts folder built for exactly the cluster's version."""
    source = cluster.get("cluster_kubernetes_source", "upstream")
    # Kubernetes is formed only when it runs Spark (see playbooks/kubernetes.yml).
    if source != "artifacts" or cluster.get("cluster_spark_manager") == "standalone":
        return
    folder = cluster.get("cluster_kubernetes_artifacts_dir")
    if _templated(folder):
        return
    if not isinstance(folder, str) or not folder:
        problems.add(where("cluster_kubernetes_source"),
                     "cluster_kubernetes_artifacts_dir: missing; cluster_kubernetes_source is artifacts, so set it "
                     "to the folder `python bootstrap.py artifacts build` printed")
        return
    manifest = Path(folder).expanduser() / "manifest.json"
    if not manifest.is_file():
        problems.add(where("cluster_kubernetes_artifacts_dir"),
                     f"cluster_kubernetes_artifacts_dir: {manifest} does not exist; build it with "
                     f"`python bootstrap.py artifacts build --kubernetes {cluster.get('cluster_kubernetes_version')}`")
        return
    try:
        built = json.loads(manifest.read_text()).get("kubernetes_version")
    except (OSError, ValueError, AttributeError):
        built = None
    if str(built) != str(cluster.get("cluster_kubernetes_version")):
        problems.add(where("cluster_kubernetes_artifacts_dir"),
                     f"cluster_kubernetes_artifacts_dir: {folder} holds Kubernetes {built}, but "
                     f"cluster_kubernetes_version is {cluster.get('cluster_kubernetes_version')}; build that "
                     "version or point to its folder")


NETWORK_KEYS = ("cluster_node_network", "cluster_pod_cidr", "cluster_service_cidr")


def _network(value: Any) -> ipaddress.IPv4Network | None:
    if not isinstance(value, str) or _templated(value):
        return None
    try:
        return ipaddress.IPv4Network(value)
    except ValueError:
        return None  # the spec check reports it


def _address(value: Any) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if value is None or _templated(value) or isinstance(value, (bool, list, dict)):
        return None
    try:
        return ipaddress.ip_address(str(value))
    except ValueError:
        return None


def _network_problems(cluster: Mapping[str, Any], node_count: int, where: Callable[[str], str],
                      problems: Problems) -> dict[str, ipaddress.IPv4Network]:
    networks = {k: n for k in NETWORK_KEYS if (n := _network(cluster.get(k))) is not None}
    names = sorted(networks)
    for i, first in enumerate(names):
        for second in names[i + 1:]:
            if networks[first].overlaps(networks[second]):
                problems.add(where(second), f"{first} {networks[first]} overlaps {second} {networks[second]}; "
                                            "node network, pod CIDR and service CIDR must be pairwise disjoint")
    service = networks.get("cluster_service_cidr")
    if service is not None and service.prefixlen < 12:
        problems.add(where("cluster_service_cidr"), f"cluster_service_cidr: {service} is larger than the /12 "
                                                    "kube-apiserver accepts; use a /12 or smaller such as 10.96.0.0/12")
    pod = networks.get("cluster_pod_cidr")
    block = cluster.get("cluster_pod_block_size")
    if pod is not None and isinstance(block, int) and not isinstance(block, bool) and 0 <= block <= 128:
        if block < pod.prefixlen or block > pod.max_prefixlen:
            problems.add(where("cluster_pod_block_size"),
                         f"cluster_pod_block_size: /{block} does not fit inside cluster_pod_cidr {pod}")
        elif 2 ** (block - pod.prefixlen) < node_count:
            problems.add(where("cluster_pod_cidr"),
                         f"cluster_pod_cidr: {pod} holds {2 ** (block - pod.prefixlen)} blocks of /{block}, "
                         f"fewer than the {node_count} nodes; use a larger pod CIDR or a larger cluster_pod_block_size")
    return networks


def _in_network_problem(ip: ipaddress.IPv4Address | ipaddress.IPv6Address, network: ipaddress.IPv4Network) -> str | None:
    """Why ip cannot be a host's address on network, or None."""
    if ip.version != network.version or ip not in network:
        return f"is outside cluster_node_network {network}"
    if network.prefixlen < 31 and ip == network.network_address:
        return f"is the network address of {network}, not a host's"
    if network.prefixlen < 31 and ip == network.broadcast_address:
        return f"is the broadcast address of {network}, not a host's"
    return None


def _address_problems(host: str, variables: Mapping[str, Any], networks: Mapping[str, ipaddress.IPv4Network],
                      seen_ips: dict[str, str], sources: Sources, problems: Problems) -> None:
    node_network = networks.get("cluster_node_network")
    raw_ip = variables.get("node_ip")
    ip = _address(raw_ip)
    if ip is not None:
        if str(ip) in seen_ips:
            problems.add(sources.of(host, "node_ip"), f"host {host}: node_ip {ip} is already used by "
                                                      f"{seen_ips[str(ip)]}; addresses must be unique")
        seen_ips.setdefault(str(ip), host)
        if node_network is not None and (problem := _in_network_problem(ip, node_network)):
            problems.add(sources.of(host, "node_ip"), f"host {host}: node_ip {ip} {problem}; give it an address "
                                                      "of the node network")
    gateway = _address(variables.get("cluster_node_gateway"))
    if gateway is not None and node_network is not None:
        problem = _in_network_problem(gateway, node_network)
        if problem:
            problems.add(sources.of(host, "cluster_node_gateway"),
                         f"cluster_node_gateway: {gateway} {problem}; the nodes' gateway must be on their network")
        elif ip is not None and gateway == ip:
            problems.add(sources.of(host, "node_ip"), f"host {host}: node_ip {ip} is the gateway's address "
                                                      "(cluster_node_gateway); give the node another address")
    servers = variables.get("cluster_dns_servers")
    for index, raw in enumerate(servers if isinstance(servers, list) else []):
        server = _address(raw)
        if server is None:
            continue
        name = f"cluster_dns_servers[{index}]"
        if server.is_loopback or server.is_unspecified or server.is_multicast:
            problems.add(sources.of(host, "cluster_dns_servers"),
                         f"{name}: {server} is a loopback, unspecified or multicast address; CoreDNS would forward "
                         "to itself: give the nodes' real resolver")
        for key in ("cluster_pod_cidr", "cluster_service_cidr"):
            if key in networks and server.version == 4 and server in networks[key]:
                problems.add(sources.of(host, "cluster_dns_servers"),
                             f"{name}: {server} is inside {key} {networks[key]}; nodes need a resolver that works "
                             "before the cluster does")
        if node_network is not None and server.version == 4 and server in node_network:
            problem = _in_network_problem(server, node_network)
            if problem:
                problems.add(sources.of(host, "cluster_dns_servers"), f"{name}: {server} {problem}")


def _raw_hostvars(hostvars: Any, hosts: Iterable[str]) -> dict[str, Mapping[str, Any]]:
    """Variables as written: in a play, hostvars would template each value it is asked for."""
    raw_get = getattr(hostvars, "raw_get", None)
    result = {}
    for host in hosts:
        variables = raw_get(host) if raw_get is not None else hostvars.get(host)
        result[host] = variables if isinstance(variables, Mapping) else {}
    return result


def cluster_inventory_errors(hostvars: Mapping[str, Mapping[str, Any]], groups: Mapping[str, list[str]]) -> list[str]:
    """Every inventory problem at once; an empty list means the inventory is consistent."""
    groups = {str(name): [str(h) for h in hosts] for name, hosts in groups.items()}
    hosts = sorted({h for members in groups.values() for h in members})
    raw = _raw_hostvars(hostvars, hosts)
    sources = Sources(raw, groups)
    problems = Problems()
    nodes = _shape_problems(groups, sources, problems)
    if not nodes:
        return problems.list()
    _spec_problems(raw, nodes, sources, problems)
    seen_names: dict[str, str] = {}
    seen_ips: dict[str, str] = {}
    for host in nodes:
        variables = raw[host]
        if not HOSTNAME_RE.match(host):
            problems.add(sources.host(host), f"host {host}: its name is not a valid lowercase DNS label "
                                             "(a-z, 0-9, '-'); rename it")
        if host.lower() in seen_names:
            problems.add(sources.host(host), f"host {host}: same hostname as {seen_names[host.lower()]}; "
                                             "hostnames must be unique")
        seen_names[host.lower()] = host
        where = functools.partial(sources.of, host)
        networks = _network_problems(variables, len(nodes), where, problems)
        _kubernetes_source_problems(variables, where, problems)
        _registry_port_problems(variables, where, problems)
        _address_problems(host, variables, networks, seen_ips, sources, problems)
    _control_plane_vip_problems(raw, list(groups.get("control_plane", [])), seen_ips, sources, problems)
    _kafka_release_problems(raw, list(groups.get(KAFKA_GROUP, [])), sources, problems)
    return problems.list()


def _registry_port_problems(variables: Mapping[str, Any], where: Callable[[str], str], problems: Problems) -> None:
    """The registry's two sides are two listeners: one port cannot serve both."""
    specs = load_specs()
    pull, push = (variables.get(name, specs[name].default) for name in ("cluster_registry_port", "cluster_registry_push_port"))
    if isinstance(pull, int) and pull == push:
        problems.add(where("cluster_registry_push_port"),
                     f"cluster_registry_push_port: {push} is cluster_registry_port too; the registry's push side "
                     "(loopback, authenticated) needs a port of its own, e.g. 5001")


def _kafka_release_problems(raw: Mapping[str, Mapping[str, Any]], brokers: list[str], sources: Sources,
                            problems: Problems) -> None:
    """A broker that downloads the release must be able to check it: no checksum, no download."""
    default_source = load_specs()["kafka_source"].default
    unchecked = [broker for broker in brokers if raw[broker].get("kafka_source", default_source) == "release"
                 and not raw[broker].get("kafka_release_sha512")]
    if unchecked:
        problems.add(sources.group(KAFKA_GROUP),
                     f"hosts {', '.join(unchecked)}: kafka_source is release and kafka_release_sha512 is not set; "
                     "set it to the sha512 in the .sha512 file Apache publishes beside kafka_release_url "
                     "(lowercase, no spaces), or set kafka_source: maven to copy jars assembled from Maven Central")


def _control_plane_vip_problems(raw: Mapping[str, Mapping[str, Any]], control_planes: list[str],
                                node_ips: Mapping[str, str], sources: Sources, problems: Problems) -> None:
    """Several control planes need one address the API keeps when one of them goes: a free node-network address."""
    if not control_planes:
        return
    first = control_planes[0]
    variables = raw[first]
    where = functools.partial(sources.of, first)
    value = variables.get("cluster_control_plane_vip")
    if value in (None, ""):
        if len(control_planes) > 1:
            problems.add(where("cluster_control_plane_vip"),
                         f"cluster_control_plane_vip: not set, and the cluster has {len(control_planes)} control "
                         "planes; give a free address of cluster_node_network: keepalived keeps it on a live "
                         "control plane, and workers and kubeconfigs reach the API through it")
        return
    vip = _address(value)
    if vip is None:
        return  # the spec check reports a malformed address
    network = _network(variables.get("cluster_node_network"))
    if network is not None and (problem := _in_network_problem(vip, network)):
        problems.add(where("cluster_control_plane_vip"), f"cluster_control_plane_vip: {vip} {problem}; the "
                                                         "virtual IP moves between control planes on that network")
    if str(vip) in node_ips:
        problems.add(where("cluster_control_plane_vip"), f"cluster_control_plane_vip: {vip} is node_ip of "
                                                         f"{node_ips[str(vip)]}; choose an address no node has")
    if _address(variables.get("cluster_node_gateway")) == vip:
        problems.add(where("cluster_control_plane_vip"), f"cluster_control_plane_vip: {vip} is the gateway's "
                                                         "address (cluster_node_gateway); choose a free address")
