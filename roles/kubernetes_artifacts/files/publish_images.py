#!/usr/bin/python3
"""Push image archives into a registry through containerd's ctr, skipping images already there.

An image counts as there when the registry's manifest for name:tag names the archive's config digest
(the image id). containerd's hosts folder gives ctr the registry's scheme and CA.
"""

import argparse
import json
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


def ctr(*args: str) -> None:
    subprocess.run(["ctr", "-n", NAMESPACE, *args], check=True, stdout=subprocess.DEVNULL)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--registry", required=True)
    parser.add_argument("--stage-dir", required=True)
    parser.add_argument("--images", required=True, help="JSON list of {name, tag, file, id}")
    args = parser.parse_args()
    for image in json.loads(args.images):
        name, tag = image["name"], image["tag"]
        if registry_config_digest(args.registry, name, tag) == image["id"]:
            continue
        # docker save names images as Docker Hub would: ctr imports them under that full name.
        imported = f"docker.io/{name if '/' in name else 'library/' + name}:{tag}"
        target = f"{args.registry}/{name}:{tag}"
        ctr("images", "import", str(Path(args.stage_dir, Path(image["file"]).name)))
        ctr("images", "tag", "--force", imported, target)
        ctr("images", "push", "--hosts-dir", HOSTS_DIR, target)
        print(f"pushed {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
