"""Jar sets from Maven Central, assembled once into the artifacts cache: Kafka's runtime and Spark's Kafka connector.

`python -m clusterboot.artifacts.maven kafka 4.1.1` (the kafka role runs it on the controller) resolves a small
generated POM with `mvn dependency:copy-dependencies` and leaves, in `<cache>/artifacts/<name>-<version>-<recipe>/`:
  libs/*.jar     the runtime classpath (what a release tarball's libs/ holds)
  libs.tar       the same jars in one deterministic tar (sorted, mtime 0): one file to copy to each node
  manifest.json  name, version, Maven coordinates, sha256 of every jar and of libs.tar
The folder name carries a hash of the POM, so a changed recipe never reuses an old folder; a second run finds the
manifest and assembles nothing. It prints the manifest as JSON, with "assembled": true when it built the folder.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import shutil
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

from clusterboot.artifacts.build import default_cache
from clusterboot.artifacts.images import sha256_file
from clusterboot.errors import UserError

# Kafka 4 logs through SLF4J; a release ships log4j2 behind it. The same versions as Kafka 4.1's libs/.
LOG4J_VERSION = "2.24.3"
# Spark's connector pulls its own copies of jars Spark already ships (scala-library, slf4j, zstd, lz4,
# snappy): those are dropped, so the executor's classpath has one version of each.
# Bump when the assembly changes in a way the POM does not show.
RECIPE_REVISION = "1"


@dataclass(frozen=True)
class JarSet:
    name: str
    version: str
    coordinates: tuple[str, ...]  # group:artifact:version, runtime scope with their dependencies
    # Jars (by artifact id) left out because the classpath they join already has them.
    provided: frozenset[str] = frozenset()

    def pom(self) -> str:
        deps = "".join(
            f"<dependency><groupId>{g}</groupId><artifactId>{a}</artifactId><version>{v}</version></dependency>"
            for g, a, v in (c.split(":") for c in self.coordinates))
        return ("<project xmlns=\"http://maven.apache.org/POM/4.0.0\"><modelVersion>4.0.0</modelVersion>"
                f"<groupId>clusterboot</groupId><artifactId>{self.name}-jars</artifactId><version>{self.version}"
                f"</version><packaging>pom</packaging><dependencies>{deps}</dependencies></project>\n")

    def recipe_hash(self) -> str:
        text = self.pom() + ",".join(sorted(self.provided)) + RECIPE_REVISION
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def folder(self, cache: Path) -> Path:
        return cache / "artifacts" / f"{self.name}-{self.version}-{self.recipe_hash()}"


def kafka(version: str) -> JarSet:
    """A KRaft broker and controller (kafka.Kafka, kafka.tools.StorageTool) and the admin tools (TopicCommand)."""
    return JarSet("kafka", version, (
        f"org.apache.kafka:kafka_2.13:{version}",
        f"org.apache.kafka:kafka-tools:{version}",
        f"org.apache.logging.log4j:log4j-core:{LOG4J_VERSION}",
        f"org.apache.logging.log4j:log4j-slf4j-impl:{LOG4J_VERSION}",
    ))


def spark_kafka(version: str, spark_jars: Path) -> JarSet:
    """spark-sql-kafka-0-10 and what it needs beyond the jars of the Spark it joins (`spark_jars`)."""
    if not spark_jars.is_dir():
        raise UserError(f"{spark_jars}: not a folder of Spark's jars (pyspark/jars of the controller's venv)")
    provided = frozenset(_artifact_id(jar.name) for jar in spark_jars.glob("*.jar"))
    return JarSet("spark-kafka", version, (f"org.apache.spark:spark-sql-kafka-0-10_2.13:{version}",), provided)


def _artifact_id(jar_name: str) -> str:
    """`kafka-clients-3.9.2.jar` -> `kafka-clients`: the name before the first `-N.N` (so `-0-10_2.13` stays)."""
    match = re.match(r"(.+?)-\d+(\.\d+)+", jar_name)
    return match.group(1) if match else jar_name.removesuffix(".jar")


def assemble(jars: JarSet, cache: Path) -> tuple[dict, bool]:
    """The jar set's manifest, assembling the folder first when it is not there; (manifest, assembled now).
    Its "folder" is where the set is now: a cache moved or restored elsewhere (CLUSTERBOOT_CACHE) still works."""
    folder = jars.folder(cache)
    manifest_file = folder / "manifest.json"
    if manifest_file.exists():
        return {**json.loads(manifest_file.read_text()), "folder": str(folder)}, False
    if shutil.which("mvn") is None:
        raise UserError("mvn (Apache Maven) is not on PATH: install it (apt-get install maven) to assemble "
                        f"the {jars.name} {jars.version} jars from Maven Central")
    staging = folder.with_name(folder.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    (staging / "libs").mkdir(parents=True)
    (staging / "pom.xml").write_text(jars.pom())
    log = cache / "logs" / f"{folder.name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as out:
        proc = subprocess.run(
            ["mvn", "-B", "-q", "-f", str(staging / "pom.xml"), "dependency:copy-dependencies",
             "-DincludeScope=runtime", f"-DoutputDirectory={staging / 'libs'}"],
            stdout=out, stderr=subprocess.STDOUT, check=False)
    if proc.returncode != 0:
        raise UserError(f"mvn could not resolve the {jars.name} {jars.version} jars from Maven Central "
                        f"({', '.join(jars.coordinates)}); its output is in {log}")
    for jar in (staging / "libs").glob("*.jar"):
        if _artifact_id(jar.name) in jars.provided:
            jar.unlink()
    names = sorted(j.name for j in (staging / "libs").glob("*.jar"))
    _deterministic_tar(staging / "libs", names, staging / "libs.tar")
    manifest = {
        "name": jars.name, "version": jars.version, "recipe": jars.recipe_hash(),
        "coordinates": list(jars.coordinates),
        "jars": {name: sha256_file(staging / "libs" / name) for name in names},
        "tar": "libs.tar", "tar_sha256": sha256_file(staging / "libs.tar"),
    }
    (staging / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    shutil.rmtree(folder, ignore_errors=True)
    staging.rename(folder)
    return {**manifest, "folder": str(folder)}, True


def _deterministic_tar(folder: Path, names: list[str], target: Path) -> None:
    """Same jars, same bytes: sorted names, no times or owners, so the tar's checksum names its content."""
    with tarfile.open(target, "w", format=tarfile.GNU_FORMAT) as tar:
        for name in names:
            info = tar.gettarinfo(str(folder / name), arcname=name)
            info.mtime, info.uid, info.gid, info.uname, info.gname, info.mode = 0, 0, 0, "", "", 0o644
            with (folder / name).open("rb") as data:
                tar.addfile(info, data)


def _pyspark_jars() -> Path:
    try:
        import pyspark
    except ImportError:
        raise UserError("spark-kafka: no pyspark in this Python; pass --spark-jars") from None
    return Path(pyspark.__file__).parent / "jars"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m clusterboot.artifacts.maven", description=__doc__.split("\n")[0])
    parser.add_argument("jar_set", choices=["kafka", "spark-kafka"])
    parser.add_argument("version", help="Kafka version (kafka) or spark-sql-kafka-0-10 version (spark-kafka)")
    parser.add_argument("--spark-jars", type=Path, default=None,
                        help="spark-kafka: the folder of Spark's own jars (default: this Python's pyspark/jars)")
    parser.add_argument("--cache", type=Path, default=default_cache())
    args = parser.parse_args(argv)
    try:
        if args.jar_set == "kafka":
            jars = kafka(args.version)
        else:
            jars = spark_kafka(args.version, args.spark_jars or _pyspark_jars())
        manifest, assembled = assemble(jars, args.cache)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(json.dumps({**manifest, "assembled": assembled}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
