"""Named hyperparameter presets: a preset maps (dataset, agent) to a full TrainConfig.

`crl presets` prints each one's values and where they come from.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from crl.config import CRLConfig, GCBCConfig, MRCRLConfig, SACConfig, TD3Config, TrainConfig
from crl.errors import CrlError


def ogbench_crl_overrides(dataset: str) -> dict:
    """OGBench's per-dataset CRL hyperparameters (alpha, discount, actor goals); a pixel dataset takes its
    state dataset's."""
    family, kind = dataset.removeprefix("visual-").split("-")[0], dataset.split("-")[-2]
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


def _agents(name: str, agent: str, allowed: tuple[str, ...], online: bool = False) -> None:
    from crl.agents.registry import AGENTS

    if agent not in allowed and agent in AGENTS and AGENTS[agent].online_only and not online:
        raise CrlError(
            f"--agent {agent} learns online only: give --env NAME, not --dataset (`crl envs list`)"
        )
    if agent not in allowed:
        raise CrlError(f"preset '{name}' is for --agent {' or '.join(allowed)}, not --agent {agent}")


# OGBench's setting for its pixel datasets (impls/hyperparameters.sh): the small IMPALA encoder, random
# shifts with probability 0.5, batch 256 and 500k updates.
_OGBENCH_PIXELS = dict(encoder="impala-small", augment=0.5, batch_size=256)


def _pixels(dataset: str) -> bool:
    return dataset.startswith("visual-")


def paper(dataset: str, agent: str) -> TrainConfig:
    _agents("paper", agent, ("crl", "gcbc"))
    pixels = _OGBENCH_PIXELS if _pixels(dataset) else {}
    steps = dict(steps=500_000) if _pixels(dataset) else {}
    if agent == "gcbc":
        return TrainConfig(dataset=dataset, preset="paper", agent=GCBCConfig(**pixels), **steps)
    config = CRLConfig(**ogbench_crl_overrides(dataset), **pixels)
    return TrainConfig(dataset=dataset, preset="paper", agent=config, **steps)


def mrcrl_paper(dataset: str, agent: str) -> TrainConfig:
    _agents("mrcrl-paper", agent, ("mrcrl",))
    return TrainConfig(
        dataset=dataset, preset="mrcrl-paper", agent=MRCRLConfig(**_without_alpha(dataset)), eval_episodes=20
    )


# CRL paper, Table 2: the online setting, on which Table 3 (offline) lists its changes.
_CRL_TABLE2 = dict(
    batch_size=256, hidden=(256, 256), latent_dim=64, lr=3e-4, discount=0.99, activation="relu",
    layer_norm=False, actor_loss="sac", target_entropy=0.0, alpha=0.0,
    actor_p_trajgoal=0.0, actor_p_randomgoal=1.0,
)  # fmt: skip


def crl_paper_online(dataset: str, agent: str) -> TrainConfig:
    _agents("crl-paper-online", agent, ("crl",))
    return TrainConfig(dataset=dataset, preset="crl-paper-online", agent=CRLConfig(**_CRL_TABLE2))


# The reference code's online agent: tanh-squashed Gaussian actor, no entropy term for states, no BC, one
# critic (twin critics only for C-learning), half the actor's goals a random other state, and critic goals
# from the geometric truncated at the episode's end.
_ONLINE_ACTOR = dict(
    actor="tanh-gaussian", actor_loss="sac", entropy="off", alpha=0.0, ensemble=1,
    actor_p_trajgoal=0.5, actor_p_randomgoal=0.5, critic_goals="truncated-geometric",
)  # fmt: skip


def _td3(env: str, **changes) -> TD3Config:
    """TD3 + HER with Table 2's shared values (its defaults), and the environment's success rule as the
    sparse reward's: its radius, on the coordinates it measures; on images, Mnih et al.'s CNN first."""
    from crl.envs import make_env, on_host

    task = make_env(env)
    images = {"encoder": "nature"} if _shows_images(env) else {}
    dims = task.reward_dims if on_host(task) and not images else None  # frames keep the tracked position
    return TD3Config(goal_radius=task.success_radius, reward_dims=dims, **changes, **images)


def _schedule(env: str, **values) -> dict:
    """An online run's lengths, rounded up to whole rounds of `collect` transitions. A host task collects
    whole episodes in every copy per round, so its `collect` is num_envs x episode length."""
    from crl.envs import make_env, on_host

    task = make_env(env)
    if on_host(task):
        values = values | {"collect": values["num_envs"] * task.episode_length}
    collect = values["collect"]
    lengths = ("steps", "log_every", "checkpoint_every", "eval_every", "random_steps")
    return values | {k: -(-values[k] // collect) * collect for k in lengths}


def _shows_images(env: str) -> bool:
    from crl.data.images import is_image
    from crl.envs import make_env

    return is_image(make_env(env).obs_shape)


def _collect(env: str) -> int:
    """Table 2's train-collect interval (for every method): 64 transitions per round on images, 16 on
    states."""
    return 64 if _shows_images(env) else 16


def _online_crl(env: str, **changes) -> CRLConfig:
    """The online CRL agent for `env`, with Table 2's image changes where it shows images: Mnih et al.'s
    CNN before the networks, and SAC's temperature learned toward entropy -dim(a)."""
    from crl.envs import make_env

    images = {}
    if _shows_images(env):
        images = {
            "encoder": "nature",
            "entropy": "learned",
            "target_entropy": -float(make_env(env).action_dim),
        }
    return CRLConfig(**{**_CRL_TABLE2, **_ONLINE_ACTOR, **changes, **images})


def crl_paper_online_env(env: str, agent: str) -> TrainConfig:
    _agents("crl-paper-online", agent, ("crl", "td3her"), online=True)
    config = _td3(env) if agent == "td3her" else _online_crl(env)
    schedule = _schedule(
        env, steps=1_000_000, log_every=10_000, checkpoint_every=50_000, eval_every=50_000,
        num_envs=4, collect=_collect(env), update_ratio=1.0, random_steps=10_000,
    )  # fmt: skip
    return TrainConfig(
        dataset=None, env=env, preset="crl-paper-online", agent=config, eval_episodes=100,
        replay_size=1_000_000, **schedule,
    )  # fmt: skip


def quick_env(env: str, agent: str) -> TrainConfig:
    _agents("quick", agent, ("crl", "td3her"), online=True)
    # Batch 32 on images: each update runs a CNN over 6 x batch frames (21 updates/s on 2 cores at 32).
    small = dict(batch_size=32 if _shows_images(env) else 128, hidden=(128, 128))
    config = _td3(env, **small) if agent == "td3her" else _online_crl(env, **small, latent_dim=32)
    schedule = _schedule(
        env, steps=30_000, log_every=2_000, checkpoint_every=10_000, eval_every=10_000,
        num_envs=4, collect=_collect(env), update_ratio=1.0, random_steps=2_000,
    )  # fmt: skip
    # On images a 1M-transition replay is 12.3 GB of frames held from the start, for a run of 30k steps.
    replay = 100_000 if _shows_images(env) else 1_000_000
    return TrainConfig(
        dataset=None, env=env, preset="quick", agent=config, eval_episodes=100, replay_size=replay,
        **schedule,
    )  # fmt: skip


# OGBench's expert runs (data_gen_scripts/commands.sh): steps, updates per environment step, and the critic.
_EXPERTS = {
    "online-ant-xy": dict(steps=400_000, update_ratio=1.0, agent=SACConfig()),
    "online-humanoid-xy": dict(steps=40_000_000, update_ratio=0.25,
                               agent=SACConfig(critic_hidden=(1024,) * 3, layer_norm=True, min_q=False)),
    "online-antball": dict(steps=12_000_000, update_ratio=0.25, agent=SACConfig(layer_norm=True)),
}  # fmt: skip


def expert(dataset: str, agent: str) -> TrainConfig:
    raise CrlError(f"preset 'expert' trains OGBench's locomotion experts: --env {' or '.join(_EXPERTS)}")


def expert_env(env: str, agent: str) -> TrainConfig:
    _agents("expert", agent, ("sac",), online=True)
    if env not in _EXPERTS:
        raise CrlError(f"preset 'expert' is for --env {' or '.join(_EXPERTS)}, not {env}")
    values = _EXPERTS[env]
    long = values["steps"] > 1_000_000
    # Saving antball's full 1M-transition replay (317 MB) took 2.4 s per 20k steps (a median 31.1 against
    # 28.7 s per 10k-step interval): 4% of its 8-9 hours. Every 100k steps it is under 1%, and a stop
    # loses at most about 4 minutes.
    checkpoints = 100_000 if long else 20_000
    schedule = _schedule(
        env, steps=values["steps"], log_every=10_000, checkpoint_every=checkpoints,
        eval_every=500_000 if long else 100_000,
        num_envs=1, collect=1, update_ratio=values["update_ratio"], random_steps=10_000,
    )  # fmt: skip
    return TrainConfig(dataset=None, env=env, preset="expert", agent=values["agent"], eval_episodes=50,
                       replay_size=1_000_000, **schedule)  # fmt: skip


def crl_paper_offline(dataset: str, agent: str) -> TrainConfig:
    _agents("crl-paper-offline", agent, ("crl",))
    table3 = dict(
        batch_size=1024, latent_dim=16, hidden=(1024, 1024), actor_p_trajgoal=1.0, actor_p_randomgoal=0.0
    )
    offline = {**_CRL_TABLE2, **table3, "alpha": 0.05}
    return TrainConfig(dataset=dataset, preset="crl-paper-offline", agent=CRLConfig(**offline))


def quick(dataset: str, agent: str) -> TrainConfig:
    _agents("quick", agent, ("crl", "mrcrl", "gcbc"))
    small: dict = dict(batch_size=256, hidden=(256, 256))
    if _pixels(dataset) and agent != "mrcrl":  # mrcrl refuses images when it builds its networks
        small.update(batch_size=32, encoder="nature", augment=0.5)  # 0.055 s an update on 2 cores
    if agent == "mrcrl":
        encoders = dict(encoder_hidden=(256, 256), zs_dim=64, proj_hidden=128, proj_dim=64, horizon=5)
        config = MRCRLConfig(**small, latent_dim=64, **encoders, **_without_alpha(dataset))
    elif agent == "gcbc":
        config = GCBCConfig(**small)
    else:
        config = CRLConfig(**small, latent_dim=64, **ogbench_crl_overrides(dataset))
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


@dataclass(frozen=True)
class Preset:
    build: Callable[[str, str], TrainConfig]
    default_agent: str
    source: str
    scored_evals: int = 3
    online: Callable[[str, str], TrainConfig] | None = None
    """The preset's values for an online environment (--env), where it has them."""
    """A run's reported score: the mean of its last K evaluations. OGBench reports the mean over the last
    three (800K, 900K and 1M updates), which MR-CRL Table 1 quotes for CRL."""


PRESETS: dict[str, Preset] = {
    "quick": Preset(
        quick,
        "crl",
        "crl's own: each dataset's OGBench choices (alpha, discount, actor goals) with 2 x 256 networks, "
        "batch 256 and 30k updates, sized for a 2-core CPU (mrcrl: d = 64, H = 5; gcbc: the actor alone; "
        "pixel datasets: the Nature CNN, batch 32, random shifts with probability 0.5). "
        "Online (--env): the paper's online CRL with 2 x 128 networks, batch 128 (32 on images), 30k "
        "environment steps, rounded to whole rounds, a replay of 1M transitions (100k on images: 1.2 GB "
        "of frames) "
        "(td3her: TD3 + HER at the same sizes).",
        scored_evals=1,
        online=quick_env,
    ),
    "paper": Preset(
        paper,
        "crl",
        "OGBench (Park et al. 2025), impls/hyperparameters.sh: CRL and GCBC with batch 1024, 3 x 512 GELU "
        "networks (LayerNorm in the critic), latent 512, Adam 3e-4, 1M updates, 50 episodes per task, and "
        "each dataset family's alpha, discount and actor-goal mixture; on pixel datasets its visual "
        "setting: the small IMPALA encoder, random shifts with probability 0.5, batch 256, 500k updates.",
    ),
    "mrcrl-paper": Preset(
        mrcrl_paper,
        "mrcrl",
        "MR-CRL paper, Sec. 5: 3 x 512 GELU MLPs, batch 1024, lr 1e-4, H = 15, p = 250, tau_s = 1, tau_t "
        "0.04 -> 0.07, alpha = 0.15, 1M updates, 20 episodes. tau_t as DINOv2 (which the paper cites): a "
        "linear rise over the first 30% of training, then constant. Chosen by crl where the paper is "
        "silent: d = 512, head 512 -> 256 classes, DINO centering (0.9), latent rollout, OGBench's discount "
        "and actor goals.",
    ),
    "crl-paper-online": Preset(
        crl_paper_online,
        "crl",
        "CRL paper, Table 2 and App. E: batch 256, lr 3e-4, discount 0.99, 2 x 256 ReLU networks, "
        "representation 64, 10k random transitions, then 16 transitions and 16 updates at a time (64 on "
        "images, where every network starts with Mnih et al.'s CNN; robot tasks: one episode in each of 4 "
        "copies, then as many updates; lengths rounded to whole rounds). "
        "Online (--env), as the paper's code: a tanh-Gaussian actor without entropy term or BC, one "
        "critic, half the actor's goals random; td3her: TD3 + HER with Table 2's shared values and TD3's "
        "noise 0.2 / 0.5, delay 2, chosen by crl where the paper is silent. On a dataset: a SAC actor "
        "with target entropy 0 and random goals.",
        online=crl_paper_online_env,
    ),
    "expert": Preset(
        expert,
        "sac",
        "OGBench's locomotion experts (data_gen_scripts/commands.sh, impls/agents/sac.py): SAC with "
        "2 x 256 GELU networks, batch 256, Adam 1e-4, discount 0.99, target EMA 0.005, target entropy "
        "-dim(a) / 2, 10k random steps, one copy; ant 400k steps and one update per step; humanoid 40M "
        "steps, an update every 4, 3 x 1024 critics with LayerNorm and their mean; antball 12M, an update "
        "every 4, LayerNorm. Online (--env online-ant-xy, online-humanoid-xy, online-antball) only.",
        scored_evals=1,
        online=expert_env,
    ),
    "crl-paper-offline": Preset(
        crl_paper_offline,
        "crl",
        "CRL paper, Table 3 on top of Table 2: batch 1024, representation 16, 2 x 1024 networks, future "
        "goals for the actor. Chosen by crl where the paper is silent: a BC term of weight 0.05.",
    ),
}


def scored_evals(preset: str) -> int:
    """K of the preset a run was trained with (1, the final evaluation, for a preset no longer known)."""
    return PRESETS[preset].scored_evals if preset in PRESETS else 1


def preset_config(
    name: str, dataset: str | None, agent: str | None = None, env: str | None = None
) -> TrainConfig:
    """The preset's config for `dataset`, or for the online environment `env`."""
    if name not in PRESETS:
        raise CrlError(f"unknown preset '{name}': choose one of {', '.join(PRESETS)}")
    preset = PRESETS[name]
    if env is None:
        return preset.build(dataset, agent or preset.default_agent)
    if preset.online is None:
        online = [n for n, p in PRESETS.items() if p.online is not None]
        raise CrlError(f"preset '{name}' is for datasets; with --env choose {' or '.join(online)}")
    return preset.online(env, agent or preset.default_agent)
