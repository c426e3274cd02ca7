"""Goal dimension (CRL paper F.2, Fig. 9): how close runs on sawyer-push-goalK get to their goal, by K."""

from __future__ import annotations

from pathlib import Path

from crl.analysis.evaluations import seed_evaluations
from crl.errors import CrlError

PREFIX = "sawyer-push-goal"


def final_distances(run_dirs: list[Path]) -> list[dict]:
    """One row per seed: its goal dimension, and the final distance and success of its last evaluation."""
    rows = []
    for config, seed, records in seed_evaluations(run_dirs):
        task = config.env or config.dataset
        if not task.startswith(PREFIX):
            raise CrlError(f"{task} is not a goal-dimension task: train on {PREFIX}1 ... {PREFIX}7")
        last = records[-1] if records else {}
        if "final_distance" not in last:
            raise CrlError(f"{task} seed {seed} ({config.run_dir}) has no evaluation yet; train it further")
        rows.append({"goal_dims": int(task.removeprefix(PREFIX)), "seed": seed, "step": last["step"],
                     "final_distance": last["final_distance"], "success": last["overall"]})  # fmt: skip
    return sorted(rows, key=lambda r: (r["goal_dims"], r["seed"]))
