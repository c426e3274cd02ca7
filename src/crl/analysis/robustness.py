"""Robustness to perturbations (CRL paper F.5, Fig. 12): an image fetch-push policy evaluated on the
original task and on three changes to what it sees or where it starts, `repeats` x `trials` episodes
each; the paper reports the mean +- std over 5 repeats of 20 trials."""

from __future__ import annotations

import dataclasses

import numpy as np

from crl.envs.robot_images import FetchPushImage
from crl.envs.robots import HostEnvs

RED = (0.8, 0.05, 0.05, 1.0)
YELLOW = (0.95, 0.85, 0.1, 1.0)
TOWARD_CAMERA = (0.0, -0.1, 0.0)  # m: the fetch-push-image camera looks along +y
SEED = 0xF5  # the episodes: other than the training and evaluation ones

PERTURBATIONS: dict[str, dict] = {
    "original": {},
    "object red": {"recolour": (("object0", RED),)},  # black in the original
    "table yellow": {"recolour": (("table0", YELLOW),)},  # white in the original
    "arm toward camera": {"start_offset": TOWARD_CAMERA},  # 10 cm: the paper gives no distance
}


def perturbed(task: FetchPushImage, name: str) -> FetchPushImage:
    return dataclasses.replace(task, **PERTURBATIONS[name])


def success_rates(task: FetchPushImage, policy, trials: int, repeats: int) -> np.ndarray:
    """(repeats,) success rates, each over `trials` episodes stepped side by side; the same episodes
    (starts and goals as seeds name them) for every perturbation."""
    envs = HostEnvs(task, trials, seed=SEED)
    rates = []
    for repeat in range(repeats):
        obs, goals = envs.reset([(SEED, repeat * trials + j) for j in range(trials)])
        for _ in range(task.episode_length):
            obs = envs.step(policy(obs, goals))
        rates.append(envs.succeeded.mean())
    return np.array(rates)
