#!/usr/bin/python3
"""Push image archives into the cluster registry through containerd's ctr, skipping images already there.

An image counts as there when the network side's manifest for name:tag names the archive's config digest
(the image id); containerd's hosts folder gives its scheme and CA. Images go in through the push side on
this node's loopback (plain HTTP), with the login the registry role gave root's Docker.
"""

import argparse
import base64
import json
import os
import ssl
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

HOSTS_DIR = "/etc/containerd/certs.d"
NAMESPACE = "clusterboot"
ACCEPT = ", ".join([
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
])


def registry_config_digest(registry: str, name: str, tag: str) -> str | None:
    hosts = Path(HOSTS_DIR, registry, "hosts.toml")
    plain = hosts.exists() and 'server = "http://' in hosts.read_text()
    context = None
    if not plain:
        ca = Path(HOSTS_DIR, registry, "ca.crt")
        context = ssl.create_default_context(cafile=str(ca) if ca.exists() else None)
    url = f"{'http' if plain else 'https'}://{registry}/v2/{name}/manifests/{tag}"
    request = urllib.request.Request(url, headers={"Accept": ACCEPT})
    try:
        with urllib.request.urlopen(request, context=context, timeout=30) as response:
            return json.load(response).get("config", {}).get("digest")
    except urllib.error.HTTPError as err:
        if err.code == 404:
            return None
        raise


def push_login(push_registry: str) -> str:
    """user:password of root's Docker login to the push side."""
    config = Path(os.environ.get("DOCKER_CONFIG", Path.home() / ".docker"), "config.json")
    try:
        auth = json.loads(config.read_text())["auths"][push_registry]["auth"]
    except (OSError, KeyError, ValueError):
        sys.exit(f"{config} holds no login to {push_registry}: the registry role logs root in; run it first")
    return base64.b64decode(auth).decode()


def ctr(*args: str) -> None:
    """Run ctr; a failure is reported by its subcommand and image only (a push's arguments hold the login)."""
    result = subprocess.run(["ctr", "-n", NAMESPACE, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    if result.returncode != 0:
        sys.exit(f"ctr {args[0]} {args[1]} {args[-1]} failed: {result.stderr.strip()}")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--registry", required=True, help="the network side, host:port (read-only)")
    parser.add_argument("--push-registry", required=True, help="the push side, 127.0.0.1:port")
    parser.add_argument("--stage-dir", required=True)
    parser.add_argument("--images", required=True, help="JSON list of {name, tag, file, id}")
    args = parser.parse_args()
    login = None
    for image in json.loads(args.images):
        name, tag = image["name"], image["tag"]
        if registry_config_digest(args.registry, name, tag) == image["id"]:
            continue
        # docker save names images as Docker Hub would: ctr imports them under that full name.
        imported = f"docker.io/{name if '/' in name else 'library/' + name}:{tag}"
        target = f"{args.push_registry}/{name}:{tag}"
        login = login or push_login(args.push_registry)
        ctr("images", "import", str(Path(args.stage_dir, Path(image["file"]).name)))
        ctr("images", "tag", "--force", imported, target)
        ctr("images", "push", "--plain-http", "--user", login, target)
        print(f"pushed {args.registry}/{name}:{tag}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
