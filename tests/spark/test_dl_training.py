"""The DL job for real: TorchDistributor starts 2 PyTorch processes that train with DDP over gloo."""

from pathlib import Path

from spark_jobs.data_generator import classification_data
from spark_jobs.dl_training import run

PROJECT = Path(__file__).resolve().parents[2]


def test_two_process_training_learns(spark, monkeypatch):
    # torchrun's children unpickle the train function by module name.
    monkeypatch.setenv("PYTHONPATH", str(PROJECT))
    df = classification_data(spark, rows=3000, features=2, noise=0.0, seed=11)
    result = run(df, ["feature1", "feature2"], "label", processes=2, epochs=12, batch_size=64,
                 learning_rate=0.002, seed=11)
    losses = result["losses"]
    assert result["processes"] == 2
    assert len(losses) == 12
    assert losses[-1] < 0.5 * losses[0], losses
    assert all(later <= earlier * 1.05 for earlier, later in zip(losses, losses[1:])), losses
    # Chance is about 0.5 on this data; a linear boundary is easy for the MLP.
    assert result["test_accuracy"] >= 0.9, result["test_accuracy"]
