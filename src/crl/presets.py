"""Named hyperparameter presets: a preset maps (dataset, agent) to a full TrainConfig.

- `paper`: OGBench's published CRL setting (its `impls/hyperparameters.sh`): one architecture and
  optimiser for all state-based datasets, with per-family BC weight alpha, discount and actor-goal
  mixture.
- `mrcrl-paper`: MR-CRL as Section 5 of its paper states it; where the paper is silent (discount,
  actor goals) it keeps OGBench's per-dataset CRL choices, which its CRL baseline numbers used.
- `quick`: the same per-dataset choices with small networks and a short schedule, so that a run
  learns within minutes on a 2-core CPU.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from crl.config import CRLConfig, MRCRLConfig, TrainConfig
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


def _without_alpha(dataset: str) -> dict:
    return {k: v for k, v in ogbench_crl_overrides(dataset).items() if k != "alpha"}


def paper(dataset: str, agent: str) -> TrainConfig:
    """OGBench CRL: batch 1024, 3 x 512 GELU (LayerNorm in the critic), latent 512, Adam 3e-4, 1M updates."""
    if agent != "crl":
        raise CrlError(f"preset 'paper' is CRL's; for --agent {agent} use --preset {agent}-paper")
    return TrainConfig(dataset=dataset, preset="paper", agent=CRLConfig(**ogbench_crl_overrides(dataset)))


def mrcrl_paper(dataset: str, agent: str) -> TrainConfig:
    """MR-CRL Sec. 5: 3 x 512 GELU MLPs, batch 1024, lr 1e-4, H 15, p 250, tau_s 1, tau_t 0.04 -> 0.07,
    alpha 0.15, 1M updates, 20 evaluation episodes. Chosen here: d = 512, a 512-wide head m onto 256
    classes, DINO centering of the teacher (momentum 0.9), latent rollout."""
    if agent != "mrcrl":
        raise CrlError(f"preset 'mrcrl-paper' is MR-CRL's; use it with --agent mrcrl, not --agent {agent}")
    return TrainConfig(
        dataset=dataset, preset="mrcrl-paper", agent=MRCRLConfig(**_without_alpha(dataset)), eval_episodes=20
    )


def quick(dataset: str, agent: str) -> TrainConfig:
    """Small networks and a short schedule for a 2-core CPU: minutes, not hours."""
    small = dict(batch_size=256, hidden=(256, 256), latent_dim=64)
    if agent == "mrcrl":
        config = MRCRLConfig(
            **small, encoder_hidden=(256, 256), zs_dim=64, proj_hidden=128, proj_dim=64, horizon=5,
            **_without_alpha(dataset),
        )  # fmt: skip
    else:
        config = CRLConfig(**small, **ogbench_crl_overrides(dataset))
    return TrainConfig(
        dataset=dataset,
        preset="quick",
        agent=config,
        steps=30_000,
        log_every=1_000,
        checkpoint_every=5_000,
        eval_every=15_000,
        eval_episodes=50,
    )


PRESETS: dict[str, Callable[[str, str], TrainConfig]] = {
    "quick": quick,
    "paper": paper,
    "mrcrl-paper": mrcrl_paper,
}
PRESET_AGENT = {"mrcrl-paper": "mrcrl"}  # the agent a preset implies when --agent is not given


def preset_config(name: str, dataset: str, agent: str | None = None) -> TrainConfig:
    if name not in PRESETS:
        raise CrlError(f"unknown preset '{name}': choose one of {', '.join(PRESETS)}")
    return PRESETS[name](dataset, agent or PRESET_AGENT.get(name, "crl"))


def replace_agent(config: TrainConfig, **changes) -> TrainConfig:
    return dataclasses.replace(config, agent=dataclasses.replace(config.agent, **changes))
