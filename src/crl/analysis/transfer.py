"""Transfer curves (CRL paper F.4, Fig. 11): the success of runs on each target task, grouped by the run
their critic started from (`crl train --init-from`), seeds pooled."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np

from crl.logs import read_jsonl

SCRATCH = "scratch"


def task_of(config) -> str:
    return config.env or config.dataset


def source_of(config) -> str:
    """The task the run's critic was transferred from, or SCRATCH."""
    from crl.train import read_config

    return SCRATCH if config.init_from is None else task_of(read_config(config.init_from))


def curves(run_dirs: list[Path]) -> dict[tuple[str, str], dict[int, list[float]]]:
    """(target task, source task) -> step -> every seed's overall success at that step's evaluation."""
    from crl.train import read_config, seed_runs

    found: dict[tuple[str, str], dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    for run_dir in run_dirs:
        config = read_config(run_dir)
        key = (task_of(config), source_of(config))
        for _, directory in seed_runs(Path(run_dir), config):
            for record in read_jsonl(directory / "eval.jsonl"):
                found[key][record["step"]].append(record["overall"])
    return found


def rows(found: dict[tuple[str, str], dict[int, list[float]]]) -> list[dict]:
    """One row per (target, source, step): mean and standard deviation over seeds."""
    return [
        {
            "target": target,
            "source": source,
            "step": step,
            "success_mean": float(np.mean(values)),
            "success_std": float(np.std(values)),
            "seeds": len(values),
        }  # fmt: skip
        for (target, source), by_step in sorted(found.items())
        for step, values in sorted(by_step.items())
    ]
