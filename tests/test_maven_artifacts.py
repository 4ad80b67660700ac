"""The Maven jar sets (Kafka, Spark's Kafka connector): recipes, cache keys and the deterministic tar, no network."""

import hashlib
import json

import pytest

from clusterboot.artifacts import maven
from clusterboot.errors import UserError


@pytest.mark.parametrize("jar,artifact", [
    ("kafka-clients-3.9.2.jar", "kafka-clients"),
    ("spark-sql-kafka-0-10_2.13-4.2.0.jar", "spark-sql-kafka-0-10_2.13"),
    ("javassist-3.30.2-GA.jar", "javassist"),
    ("scala-library-2.13.16.jar", "scala-library"),
    ("HdrHistogram-2.2.2.jar", "HdrHistogram"),
])
def test_artifact_id_of_a_jar_name(jar, artifact):
    assert maven._artifact_id(jar) == artifact


def test_kafka_pom_names_the_broker_tools_and_logging_at_the_version():
    pom = maven.kafka("4.1.1").pom()
    for coordinate in ("<artifactId>kafka_2.13</artifactId><version>4.1.1</version>",
                       "<artifactId>kafka-tools</artifactId><version>4.1.1</version>",
                       f"<artifactId>log4j-core</artifactId><version>{maven.LOG4J_VERSION}</version>"):
        assert coordinate in pom


def test_cache_folder_is_keyed_by_version_and_recipe(tmp_path):
    assert maven.kafka("4.1.1").folder(tmp_path) == maven.kafka("4.1.1").folder(tmp_path)
    assert maven.kafka("4.1.1").folder(tmp_path) != maven.kafka("4.1.2").folder(tmp_path)
    assert maven.kafka("4.1.1").folder(tmp_path).name.startswith("kafka-4.1.1-")


def test_connector_leaves_out_what_spark_ships(tmp_path):
    (tmp_path / "scala-library-2.13.18.jar").write_bytes(b"")
    (tmp_path / "zstd-jni-1.5.7-4.jar").write_bytes(b"")
    jars = maven.spark_kafka("4.2.0", tmp_path)
    assert jars.provided == {"scala-library", "zstd-jni"}
    with pytest.raises(UserError, match="not a folder of Spark's jars"):
        maven.spark_kafka("4.2.0", tmp_path / "missing")


def test_tar_is_the_same_bytes_whatever_the_files_times(tmp_path):
    (tmp_path / "b.jar").write_bytes(b"bbb")
    (tmp_path / "a.jar").write_bytes(b"aa")
    maven._deterministic_tar(tmp_path, ["a.jar", "b.jar"], tmp_path / "one.tar")
    (tmp_path / "a.jar").touch()
    maven._deterministic_tar(tmp_path, ["a.jar", "b.jar"], tmp_path / "two.tar")
    digest = [hashlib.sha256((tmp_path / f).read_bytes()).hexdigest() for f in ("one.tar", "two.tar")]
    assert digest[0] == digest[1]


def test_a_cached_folder_is_not_assembled_again(tmp_path, monkeypatch):
    jars = maven.kafka("4.1.1")
    folder = jars.folder(tmp_path)
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text(json.dumps({"name": "kafka", "folder": str(folder)}))
    monkeypatch.setenv("PATH", "")  # no mvn: it must not be needed
    manifest, assembled = maven.assemble(jars, tmp_path)
    assert (manifest["folder"], assembled) == (str(folder), False)


def test_no_maven_is_a_clear_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", "")
    assert maven.main(["kafka", "4.1.1", "--cache", str(tmp_path)]) == 2
    assert "mvn (Apache Maven) is not on PATH" in capsys.readouterr().err


def test_a_moved_cache_names_the_folder_where_the_jars_are_now(tmp_path):
    """The manifest of a cache copied from elsewhere (another CLUSTERBOOT_CACHE, a restored backup) names the
    folder it was assembled in; the roles copy from the folder assemble returns, so that must be today's."""
    jars = maven.kafka("4.1.1")
    folder = jars.folder(tmp_path)
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text(json.dumps({"name": "kafka", "folder": "/gone/elsewhere", "tar": "libs.tar"}))
    manifest, assembled = maven.assemble(jars, tmp_path)
    assert not assembled
    assert manifest["folder"] == str(folder)
