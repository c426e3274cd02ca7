"""Named hyperparameter presets. A preset maps a dataset name to a full TrainConfig.

`paper` is OGBench's published CRL setting (its `impls/hyperparameters.sh`): one architecture and
optimiser for all state-based datasets, with per-family BC weight alpha, discount and actor-goal
mixture. `quick` keeps those per-dataset choices but shrinks the networks and the schedule so
that a run learns within minutes on a 2-core CPU.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from crl.config import CRLConfig, TrainConfig
from crl.errors import CrlError


def ogbench_crl_overrides(dataset: str) -> dict:
    """OGBench's per-dataset CRL hyperparameters (alpha, discount, actor goals) for state-based data."""
    family, kind = dataset.split("-")[0], dataset.split("-")[-2]
    alpha = {"pointmaze": 0.03, "antmaze": 0.1, "humanoidmaze": 0.1, "antsoccer": 0.3}.get(family)
    if alpha is None:  # cube, scene, puzzle: play data gets a strong BC weight, noisy data a weak one
        alpha = 3.0 if kind == "play" else 0.1
    out: dict = dict(alpha=alpha)
    if "giant" in dataset or family == "humanoidmaze":
        out["discount"] = 0.995
    if kind == "stitch":
        out.update(actor_p_trajgoal=0.5, actor_p_randomgoal=0.5)
    if kind == "explore":
        out.update(actor_p_trajgoal=0.0, actor_p_randomgoal=1.0, alpha=0.003)
    return out


def paper(dataset: str) -> TrainConfig:
    """OGBench CRL: batch 1024, 3 x 512 GELU + LayerNorm, latent 512, Adam 3e-4, 1M updates."""
    agent = CRLConfig(**ogbench_crl_overrides(dataset))
    return TrainConfig(dataset=dataset, preset="paper", agent=agent, steps=1_000_000, eval_episodes=50)


def quick(dataset: str) -> TrainConfig:
    """Small networks and a short schedule for a 2-core CPU: minutes, not hours."""
    agent = CRLConfig(batch_size=256, hidden=(256, 256), latent_dim=64, **ogbench_crl_overrides(dataset))
    return TrainConfig(
        dataset=dataset,
        preset="quick",
        agent=agent,
        steps=30_000,
        log_every=1_000,
        checkpoint_every=5_000,
        eval_every=15_000,
        eval_episodes=50,
    )


PRESETS: dict[str, Callable[[str], TrainConfig]] = {"quick": quick, "paper": paper}


def preset_config(name: str, dataset: str) -> TrainConfig:
    if name not in PRESETS:
        raise CrlError(f"unknown preset '{name}': choose one of {', '.join(PRESETS)}")
    return PRESETS[name](dataset)


def replace_agent(config: TrainConfig, **changes) -> TrainConfig:
    return dataclasses.replace(config, agent=dataclasses.replace(config.agent, **changes))
