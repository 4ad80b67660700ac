import re
from collections import Counter

from pyspark.testing import assertDataFrameEqual

from spark_jobs.data_generator import text_corpus
from spark_jobs.word_count import as_text_lines, count_words, words


def test_words_normalises_case_punctuation_and_whitespace(spark):
    lines = spark.createDataFrame([("Spark, spark\tSPARK!  don't stop.",), ("",), ("v2 ok",)], ["value"])
    expected = spark.createDataFrame(
        [("spark",), ("spark",), ("spark",), ("don't",), ("stop",), ("v2",), ("ok",)], ["word"])
    assertDataFrameEqual(words(lines), expected)


def test_count_words_sorted_by_count_then_word(spark):
    lines = spark.createDataFrame([("b a b",), ("c, B. a",)], ["value"])
    expected = spark.createDataFrame([("b", 3), ("a", 2), ("c", 1)], "word string, count long")
    assertDataFrameEqual(count_words(lines), expected, checkRowOrder=True)


def test_equal_counts_are_ordered_by_word(spark):
    # Ties at every count, each first seen in reverse alphabetical order: only the word key can order them.
    lines = spark.createDataFrame([("zebra pear kiwi fig",), ("Pear, date apple zebra",), ("fig apple zebra",)],
                                  ["value"])
    expected = spark.createDataFrame([("zebra", 3), ("apple", 2), ("fig", 2), ("pear", 2), ("date", 1), ("kiwi", 1)],
                                     "word string, count long")
    assertDataFrameEqual(count_words(lines), expected, checkRowOrder=True)


def test_text_lines_are_word_tab_count(spark):
    counts = spark.createDataFrame([("b", 3), ("a", 2)], "word string, count long")
    assertDataFrameEqual(as_text_lines(counts), spark.createDataFrame([("b\t3",), ("a\t2",)], ["value"]))


def test_generated_corpus_matches_a_plain_python_count(spark):
    corpus = text_corpus(spark, lines=2000, words_per_line=12, vocab_size=300, seed=7)
    lines = [row.value for row in corpus.collect()]
    # Python's spelling of the job's Java pattern: letters/digits joined by apostrophes, lower case.
    python_counts = Counter(w for line in lines for w in re.findall(r"[^\W_]+(?:'[^\W_]+)*", line.lower()))
    spark_counts = {row.word: row["count"] for row in count_words(corpus).collect()}
    assert spark_counts == dict(python_counts)
    assert sum(python_counts.values()) == 2000 * 12


def test_generator_is_deterministic_whatever_the_partitioning(spark):
    # Generated from 1 and from 7 partitions: a draw that depends on the split (rand, a partition id) differs.
    one = text_corpus(spark, 500, 5, 50, seed=3, partitions=1)
    many = text_corpus(spark, 500, 5, 50, seed=3, partitions=7)
    assert many.rdd.getNumPartitions() == 7
    assertDataFrameEqual(one, many)
    assert one.distinct().count() > 400  # lines really vary: a constant generator would pass the line above
