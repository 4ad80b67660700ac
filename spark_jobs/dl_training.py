"""Distributed deep learning, the notes' Horovod + TensorFlow job done with TorchDistributor + PyTorch on CPU.

The driver reads features and labels from parquet (as the notes collect them); TorchDistributor starts
N processes that train one small MLP with DistributedDataParallel over gloo, each on its own shard.
Rank 0 returns the weights and per-epoch losses; the driver saves the model and writes metrics.
"""

from __future__ import annotations

import argparse
import sys

from pyspark.ml.torch.distributor import TorchDistributor
from pyspark.sql import DataFrame

from spark_jobs.session import add_session_arguments, announce_outputs, publish_metrics, session_from_args


def to_arrays(df: DataFrame, feature_cols: list[str], label_col: str) -> tuple[list[list[float]], list[float]]:
    rows = df.select(*feature_cols, label_col).dropna().collect()
    return [[float(r[c]) for c in feature_cols] for r in rows], [float(r[label_col]) for r in rows]


def train(features: list[list[float]], labels: list[float], epochs: int, batch_size: int, learning_rate: float,
          seed: int) -> dict:
    """Runs in each of TorchDistributor's processes; one rank's return value reaches the driver."""
    import torch
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel
    from torch.utils.data import DataLoader, TensorDataset
    from torch.utils.data.distributed import DistributedSampler

    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    torch.manual_seed(seed)
    x, y = torch.tensor(features), torch.tensor(labels).unsqueeze(1)
    test_size = max(1, len(x) // 5)
    train_set = TensorDataset(x[test_size:], y[test_size:])
    sampler = DistributedSampler(train_set, num_replicas=world, rank=rank, shuffle=True, seed=seed)
    loader = DataLoader(train_set, batch_size=batch_size, sampler=sampler)
    model = torch.nn.Sequential(
        torch.nn.Linear(x.shape[1], 64), torch.nn.ReLU(), torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 1)
    )
    ddp = DistributedDataParallel(model)
    # As the notes scale Adam's rate by the number of workers.
    optimizer = torch.optim.Adam(ddp.parameters(), lr=learning_rate * world)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    losses = []
    for epoch in range(epochs):
        sampler.set_epoch(epoch)
        total, count = torch.zeros(1), torch.zeros(1)
        for batch_x, batch_y in loader:
            optimizer.zero_grad()
            loss = loss_fn(ddp(batch_x), batch_y)
            loss.backward()
            optimizer.step()
            total += loss.detach() * len(batch_x)
            count += len(batch_x)
        dist.all_reduce(total)
        dist.all_reduce(count)
        losses.append(float(total / count))
    with torch.no_grad():
        accuracy = float(((model(x[:test_size]) > 0).float() == y[:test_size]).float().mean())
    # Without the barrier a rank that finishes first tears gloo down under its peer (SIGABRT).
    dist.barrier()
    dist.destroy_process_group()
    # DDP keeps the weights identical on every rank, so each returns the same result.
    return {"state_dict": {k: v.tolist() for k, v in model.state_dict().items()}, "losses": losses,
            "test_accuracy": accuracy, "processes": world}


def run(df: DataFrame, feature_cols: list[str], label_col: str, processes: int, epochs: int, batch_size: int,
        learning_rate: float, seed: int) -> dict:
    features, labels = to_arrays(df, feature_cols, label_col)
    distributor = TorchDistributor(num_processes=processes, local_mode=True, use_gpu=False)
    return distributor.run(train, features, labels, epochs, batch_size, learning_rate, seed)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="dl_training.py", description=__doc__.splitlines()[0])
    parser.add_argument("input", help="parquet with feature columns and a 0/1 label")
    parser.add_argument("--features", required=True, help="comma-separated feature columns")
    parser.add_argument("--label", required=True)
    parser.add_argument("--processes", type=int, default=2, help="training processes (DDP world size)")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--learning-rate", type=float, default=0.001)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--model-out", required=True, help="file for the trained weights (torch.save, a local or mounted path)")
    parser.add_argument("--metrics-out", required=True, help="folder for the metrics JSON record")
    add_session_arguments(parser)
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    import torch

    args = parse_args(argv)
    spark = session_from_args("DLTraining", args)
    try:
        result = run(spark.read.parquet(args.input), args.features.split(","), args.label, args.processes,
                     args.epochs, args.batch_size, args.learning_rate, args.seed)
        torch.save({k: torch.tensor(v) for k, v in result["state_dict"].items()}, args.model_out)
        metrics = {k: result[k] for k in ("losses", "test_accuracy", "processes")}
        publish_metrics(spark, metrics, args.metrics_out)
        announce_outputs(args.model_out, args.metrics_out)
    finally:
        spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
