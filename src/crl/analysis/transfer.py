"""Transfer curves (CRL paper F.4, Fig. 11): the success of runs on each target task, grouped by the run
their critic started from (`crl train --init-from`), seeds pooled."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np

from crl.analysis.evaluations import seed_evaluations

SCRATCH = "scratch"


def task_of(config) -> str:
    return config.env or config.dataset


def source_of(config) -> str:
    """The task the run's critic was transferred from, or SCRATCH."""
    from crl.train import read_config

    return SCRATCH if config.init_from is None else task_of(read_config(config.init_from))


def curves(run_dirs: list[Path]) -> dict[tuple[str, str], dict[int, list[float]]]:
    """(target task, source task) -> step -> every seed's overall success at that step's evaluation."""
    found: dict[tuple[str, str], dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    for config, _, records in seed_evaluations(run_dirs):
        for record in records:
            found[(task_of(config), source_of(config))][record["step"]].append(record["overall"])
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
