"""The evaluations runs logged (each seed's eval.jsonl), for the analyses that compare runs by how they
were set up: transfer (by source task) and goal dimension (by goal size)."""

from __future__ import annotations

from pathlib import Path

from crl.config import TrainConfig
from crl.logs import read_jsonl


def seed_evaluations(run_dirs: list[Path]) -> list[tuple[TrainConfig, int, list[dict]]]:
    """(run config, seed, that seed's evaluation records) for every seed of every run."""
    from crl.train import read_config, seed_runs

    out = []
    for run_dir in run_dirs:
        config = read_config(run_dir)
        for seed, directory in seed_runs(Path(run_dir), config):
            out.append((config, seed, read_jsonl(directory / "eval.jsonl")))
    return out
