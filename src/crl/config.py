"""Typed configuration: the agent's hyperparameters and the run's settings, with validation."""

from __future__ import annotations

import dataclasses
import importlib.util
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TypeVar

import jax.numpy as jnp

from crl.errors import CrlError

Precision = Literal["default", "float32", "bf16"]


Encoder = Literal["identity", "nature", "impala-small"]


@dataclass(frozen=True)
class CRLConfig:
    """Contrastive RL with the NCE-binary critic and a DDPG+BC actor (OGBench's CRL)."""

    batch_size: int = 1024
    """Minibatch size B; the critic contrasts B x B (state-action, goal) pairs."""
    hidden: tuple[int, ...] = (512, 512, 512)
    """Hidden layer widths of phi, psi and the actor."""
    latent_dim: int = 512
    """Size of the representations phi(s, a) and psi(g)."""
    layer_norm: bool = True
    """LayerNorm after each hidden layer of the critic's encoders."""
    activation: Literal["gelu", "relu"] = "gelu"
    """Hidden-layer activation of the critic and actor (the CRL paper's networks use ReLU)."""
    encoder: Encoder = "identity"
    """What maps observations and goals to features before the networks (crl.encoders): identity for
    states; for 64x64 images the CNN of Mnih et al. (the CRL paper's) or OGBench's small IMPALA."""
    augment: float = 0.0
    """Probability that a minibatch of images is randomly shifted (DrQ: up to 4 pixels each way, each image
    its own shift; OGBench's visual settings use 0.5). The CRL paper's image runs do not augment."""
    ensemble: int = 2
    """Critic ensemble size; the actor maximises the minimum over members."""
    lr: float = 3e-4
    """Adam learning rate for all networks."""
    discount: float = 0.99
    """Critic goals are s_{t+k}, k ~ Geometric(1 - discount)."""
    critic_goals: Literal["geometric", "truncated-geometric"] = "geometric"
    """Where k would pass the trajectory's end: geometric clips it to the last state (OGBench's law);
    truncated-geometric draws k from the geometric renormalised on the states left (the CRL paper's code)."""
    alpha: float = 0.1
    """Weight of the behaviour-cloning term in the actor loss."""
    actor: Literal["gaussian", "deterministic", "tanh-gaussian"] = "gaussian"
    """gaussian: Gaussian clipped to the action box (unit std, or learned with sac), BC = -log-likelihood;
    deterministic: BC = squared error; tanh-gaussian (sac only, no BC): the CRL paper's tanh-squashed
    Gaussian with std = softplus + 1e-6."""
    actor_p_curgoal: float = 0.0
    """Probability that an actor goal is the current state."""
    actor_p_trajgoal: float = 1.0
    """Probability that an actor goal is a uniform future state of the same trajectory."""
    actor_p_randomgoal: float = 0.0
    """Probability that an actor goal is a random dataset state."""
    critic: Literal["nce", "cpc", "nce+c-learning", "c-learning"] = "nce"
    """Critic objective: NCE-binary, InfoNCE + logsumexp^2 (App. C), NCE + C-learning (App. D), C-learning."""
    energy: Literal["dot", "l2"] = "dot"
    """Critic energy: phi . psi / sqrt(d), or the negative L2 distance -||phi - psi||."""
    repr_norm: Literal["none", "l2", "tanh"] = "none"
    """Normalisation of phi and psi (App. G lists these as tried and not helpful). l2: rescale both to
    length sqrt(d) (as OGBench's LengthNormalize), so dot logits are sqrt(d) cos(phi, psi); tanh: squash
    each coordinate into (-1, 1)."""
    learned_temperature: bool = False
    """Scale the critic's logits by a learned temperature (App. G)."""
    cpc_logsumexp_coef: float = 0.01
    """Weight of the logsumexp^2 regulariser of the cpc critic."""
    c_learning_clip: float = 20.0
    """Upper clip of the bootstrap weight exp f(s', a', g) of the C-learning critics."""
    target_ema: float = 0.005
    """Per-update EMA rate of the target critic that computes the C-learning critics' bootstrap weight."""
    actor_loss: Literal["ddpgbc", "awr", "sac"] = "ddpgbc"
    """ddpgbc: -Q/|Q| + alpha BC; awr: exp(alpha (Q - V))-weighted BC with a contrastive V; sac: entropy-
    regularised -Q with a learned temperature, plus alpha BC."""
    target_entropy: float = 0.0
    """SAC's target entropy for its learned temperature."""
    entropy: Literal["learned", "off"] = "learned"
    """SAC's entropy term: a temperature learned toward target_entropy, or none (the CRL paper removes it
    for state inputs and learns it, with target entropy -dim(a), for images)."""
    relabel_filter: float | None = None
    """Filtered relabelling (Sec. 4.5, Fig. 13), online nce and cpc critics: the critic trains only on
    relabelled rows whose action is about as likely under the reached goal as under the commanded one,
    |log pi(a | s, g) - log pi(a | s, e')| <= this epsilon (`crl.agents.crl.relabel_weights`); none: off."""
    precision: Precision = "default"
    """Matmul precision. default: JAX's (TF32 tensor cores for float32 matmuls on NVIDIA GPUs since
    Ampere, exact float32 on CPU); float32: exact float32 everywhere; bf16: layers compute in bfloat16
    (parameters, optimizer and losses stay float32)."""

    @property
    def compute_dtype(self) -> jnp.dtype:
        return jnp.bfloat16 if self.precision == "bf16" else jnp.float32

    @property
    def bootstraps(self) -> bool:
        """C-learning critics bootstrap through f(s', a', g), from a target critic."""
        return "c-learning" in self.critic

    @property
    def needs_next_observations(self) -> bool:
        return self.bootstraps

    @property
    def actor_goal_probs(self) -> tuple[float, float, float]:
        return (self.actor_p_curgoal, self.actor_p_trajgoal, self.actor_p_randomgoal)

    def validate(self) -> None:
        _positive(self, "batch_size", "latent_dim", "ensemble", "lr")
        if self.batch_size < 2:
            raise CrlError(f"--agent.batch-size must be at least 2 to have negatives, got {self.batch_size}")
        if any(w <= 0 for w in self.hidden):
            raise CrlError(f"--agent.hidden widths must be positive, got {self.hidden}")
        if not 0.0 < self.discount < 1.0:
            raise CrlError(f"--agent.discount must lie in (0, 1), got {self.discount}")
        if self.alpha < 0:
            raise CrlError(f"--agent.alpha must be non-negative, got {self.alpha}")
        _check_goal_probs(self.actor_goal_probs)
        if not 0.0 <= self.target_ema <= 1.0:
            raise CrlError(f"--agent.target-ema must lie in [0, 1], got {self.target_ema}")
        if self.actor == "tanh-gaussian" and (self.actor_loss != "sac" or self.alpha != 0):
            raise CrlError("--agent.actor tanh-gaussian needs --agent.actor-loss sac and --agent.alpha 0")
        if self.relabel_filter is not None:
            self._validate_relabel_filter()
        _check_augment(self)

    def _validate_relabel_filter(self) -> None:
        if self.relabel_filter <= 0:
            raise CrlError(f"--agent.relabel-filter must be positive, got {self.relabel_filter}")
        if self.critic not in ("nce", "cpc") or self.actor == "deterministic":
            raise CrlError(
                "--agent.relabel-filter needs --agent.critic nce or cpc and a stochastic actor "
                "(--agent.actor gaussian or tanh-gaussian): it compares the actor's action likelihoods"
            )

    def for_run(self, steps: int) -> CRLConfig:
        """The config with run-dependent values filled in (CRL has none)."""
        return self


MRCRL_VARIANTS = ("baseline", "no-state-encoder", "goal-encoder", "actor-encoder", "ema-target", "l2-loss")


@dataclass(frozen=True)
class MRCRLConfig(CRLConfig):
    """MR-CRL: CRL whose critic also reads predictive encoders z1 (state) and z2 (state-action),
    trained by a DINO-style cross-entropy latent-dynamics loss against slowly updated targets."""

    lr: float = 1e-4
    """Adam learning rate for all networks (encoders, critic, actor)."""
    alpha: float = 0.15
    """Weight of the behaviour-cloning term in the actor loss."""
    actor: Literal["gaussian", "deterministic"] = "deterministic"
    """The paper's actor is deterministic with a squared-error BC term (Eq. 10)."""
    variant: Literal[
        "baseline", "no-state-encoder", "goal-encoder", "actor-encoder", "ema-target", "l2-loss"
    ] = "baseline"
    """Ablation of Table 2: where the encoders' features go, EMA targets, or the L2 dynamics loss."""
    encoder_hidden: tuple[int, ...] = (512, 512, 512)
    """Hidden widths of z1 and z2."""
    zs_dim: int = 512
    """Size d of the encoders' latent z1(s) and z2(z, a) (not given in the paper)."""
    proj_hidden: int = 512
    """Hidden width of the projection head m (not given in the paper)."""
    proj_dim: int = 256
    """Output size of m: the number of classes the softmaxes range over (not given in the paper)."""
    horizon: int = 15
    """H: dynamics steps per segment in the encoder loss."""
    rollout: Literal["latent", "teacher-forced"] = "latent"
    """latent: zhat_h = z2(zhat_{h-1}, a_{t+h-1}), zhat_0 = z1(s_t); teacher-forced: from z1(s_{t+h-1})."""
    target_every: int = 250
    """p: copy z1, z2, m into their targets every p updates."""
    target_ema: float = 0.005
    """Per-update EMA rate of the targets, used by the ema-target variant only."""
    student_temp: float = 1.0
    """tau_s."""
    teacher_temp_start: float = 0.04
    """tau_t at the start of training."""
    teacher_temp_end: float = 0.07
    """tau_t at the end of its schedule."""
    teacher_temp_schedule: Literal["linear-warmup", "cosine"] = "linear-warmup"
    """linear-warmup: DINOv2's (Oquab et al. 2023, whose schedule the paper cites): a linear rise from start
    to end over the first teacher_temp_warmup of training, then constant; cosine: a cosine ramp over the
    whole run."""
    teacher_temp_warmup: float = 0.3
    """Fraction of the run the linear-warmup schedule rises over (DINOv2: 30 of 100 epochs)."""
    teacher_temp_steps: int = 0
    """Updates the tau_t ramp lasts (0: from the run: teacher_temp_warmup x --steps for linear-warmup,
    --steps for cosine)."""
    teacher_centering: bool = True
    """DINO's centering: subtract a running mean of the teacher logits (not mentioned in the paper)."""
    center_momentum: float = 0.9
    """Momentum of the teacher centre."""

    def for_run(self, steps: int) -> MRCRLConfig:
        if self.teacher_temp_steps:
            return self
        warmup = self.teacher_temp_schedule == "linear-warmup"
        ramp = max(1, round(self.teacher_temp_warmup * steps)) if warmup else steps
        return dataclasses.replace(self, teacher_temp_steps=ramp)

    def validate(self) -> None:
        super().validate()
        _positive(self, "zs_dim", "proj_hidden", "proj_dim", "horizon", "target_every", "student_temp")
        _positive(self, "teacher_temp_start", "teacher_temp_end")
        if self.critic not in ("nce", "cpc") or self.actor_loss != "ddpgbc":
            raise CrlError("mrcrl supports --agent.critic nce or cpc and --agent.actor-loss ddpgbc only")
        if self.relabel_filter is not None:
            raise CrlError("mrcrl has no filtered relabelling: drop --agent.relabel-filter")
        if self.encoder != "identity":
            raise CrlError("mrcrl encodes states only: drop --agent.encoder (images: crl, gcbc or td3her)")
        if self.variant not in MRCRL_VARIANTS:
            raise CrlError(
                f"--agent.variant must be one of {', '.join(MRCRL_VARIANTS)}, got '{self.variant}'"
            )
        if not 0.0 < self.teacher_temp_warmup <= 1.0:
            raise CrlError(f"--agent.teacher-temp-warmup must lie in (0, 1], got {self.teacher_temp_warmup}")
        if not 0.0 <= self.center_momentum <= 1.0:
            raise CrlError(f"--agent.center-momentum must lie in [0, 1], got {self.center_momentum}")


_Config = TypeVar("_Config")


class _CRLViews:
    """CRLConfig's goal-mixture and dtype views for agents that share its field names (GCBC, TD3), which
    have no run-dependent values."""

    actor_goal_probs = CRLConfig.actor_goal_probs
    compute_dtype = CRLConfig.compute_dtype

    def for_run(self: _Config, steps: int) -> _Config:
        return self


@dataclass(frozen=True)
class GCBCConfig(_CRLViews):
    """Goal-conditioned behavioural cloning: the actor alone, fit to the data's actions (OGBench's GCBC)."""

    batch_size: int = 1024
    """Minibatch size."""
    hidden: tuple[int, ...] = (512, 512, 512)
    """Hidden layer widths of the actor."""
    activation: Literal["gelu", "relu"] = "gelu"
    """Hidden-layer activation."""
    lr: float = 3e-4
    """Adam learning rate."""
    discount: float = 0.99
    """Unused by the loss; kept so that goal sampling shares CRL's code."""
    actor: Literal["gaussian", "deterministic"] = "gaussian"
    """gaussian: unit-std Gaussian log-likelihood; deterministic: squared error."""
    actor_p_curgoal: float = 0.0
    """Probability that a goal is the current state."""
    actor_p_trajgoal: float = 1.0
    """Probability that a goal is a uniform future state of the same trajectory."""
    actor_p_randomgoal: float = 0.0
    """Probability that a goal is a random dataset state."""
    encoder: Encoder = "identity"
    """What maps observations and goals to features before the actor: identity for states, or a CNN for
    64x64 images (as for crl)."""
    augment: float = 0.0
    """Probability that a minibatch of images is randomly shifted (as for crl)."""
    precision: Precision = "default"
    """Matmul precision: default, float32 or bf16, as for crl (see `crl train --agent crl --help`)."""
    needs_next_observations = False

    def validate(self) -> None:
        _positive(self, "batch_size", "lr")
        _check_goal_probs(self.actor_goal_probs)
        _check_augment(self)


@dataclass(frozen=True)
class TD3Config(_CRLViews):
    """TD3 + HER, the CRL paper's main online baseline: twin goal-conditioned critics Q(s, a, g) learned by
    TD on a sparse goal-reaching reward, a deterministic actor, target networks (Table 2: EMA 0.005), and
    hindsight relabelling with future states of the same episode."""

    batch_size: int = 256
    """Minibatch size."""
    hidden: tuple[int, ...] = (256, 256)
    """Hidden layer widths of the critics and the actor."""
    activation: Literal["gelu", "relu"] = "relu"
    """Hidden-layer activation."""
    lr: float = 3e-4
    """Adam learning rate of the critics and the actor."""
    discount: float = 0.99
    """TD discount."""
    target_ema: float = 0.005
    """Target networks move this fraction of the way to the online networks at each actor update."""
    policy_noise: float = 0.2
    """Std of the Gaussian noise on the target policy's action (TD3's target smoothing)."""
    noise_clip: float = 0.5
    """That noise is clipped to +-noise_clip."""
    policy_delay: int = 2
    """The actor and the targets update once per this many critic updates."""
    explore_noise: float = 0.2
    """Std of the Gaussian noise added to the actor's action when collecting experience."""
    action_l2: float = 1.0
    """Weight of the actor's squared pre-tanh actions in its loss: the HER paper's guard against tanh
    saturation (Andrychowicz et al. 2017), where the actor's gradient vanishes for good."""
    goal_radius: float = 2.0
    """Reward 1 when the next state lies within this distance of the goal, else 0 (the point
    environments' success rule; presets set it from the environment)."""
    reward_dims: tuple[int, ...] | None = None
    """The goal coordinates that distance compares (None: all). Presets set the robot tasks' tracked
    position (e.g. fetch-push's block), as HER's reward reads the achieved goal."""
    actor_p_curgoal: float = 0.0
    """Probability that a relabelled goal is the current state."""
    actor_p_trajgoal: float = 0.8
    """Probability that a goal is a uniform future state of the same episode (HER's 'future', k = 4)."""
    actor_p_randomgoal: float = 0.2
    """Probability that a goal is a random replay state (stands in for the commanded goal, which the
    replay does not keep; the point tasks command uniformly random free positions)."""
    encoder: Encoder = "identity"
    """What maps observations and goals to features before the critics and the actor (each network its
    own): identity for states, or a CNN for 64x64 images (as for crl)."""
    augment: float = 0.0
    """Probability that a minibatch of images is randomly shifted (as for crl)."""
    precision: Precision = "default"
    """Matmul precision: default, float32 or bf16, as for crl (see `crl train --agent crl --help`)."""
    needs_next_observations = True

    def validate(self) -> None:
        _positive(self, "batch_size", "lr", "policy_delay", "goal_radius")
        _check_augment(self)
        for name in ("policy_noise", "noise_clip", "explore_noise"):
            if (value := getattr(self, name)) < 0:
                raise CrlError(f"--agent.{name.replace('_', '-')} must be non-negative, got {value}")
        if not 0.0 < self.target_ema <= 1.0:
            raise CrlError(f"--agent.target-ema must lie in (0, 1], got {self.target_ema}")
        _check_goal_probs(self.actor_goal_probs)


@dataclass(frozen=True)
class SACConfig:
    """Soft actor-critic on an environment's reward (Haarnoja et al. 2018), for the locomotion experts that
    OGBench's datasets drive with waypoints (`crl expert train`): twin critics Q(s, a) with a target copy,
    a tanh-Gaussian actor and a temperature learned toward the target entropy -scale * dim(a). The defaults
    are OGBench's (data_gen_scripts, impls/agents/sac.py)."""

    batch_size: int = 256
    """Minibatch size."""
    hidden: tuple[int, ...] = (256, 256)
    """Hidden layer widths of the actor."""
    critic_hidden: tuple[int, ...] = (256, 256)
    """Hidden layer widths of each critic."""
    layer_norm: bool = False
    """LayerNorm after the critics' hidden layers (OGBench's humanoid expert)."""
    activation: Literal["gelu", "relu"] = "gelu"
    """Hidden-layer activation."""
    lr: float = 1e-4
    """Adam learning rate of the critics, the actor and the temperature."""
    discount: float = 0.99
    """TD discount."""
    target_ema: float = 0.005
    """Per-update EMA rate of the target critics."""
    target_entropy_scale: float = 0.5
    """The temperature is learned toward the entropy -scale * dim(a)."""
    min_q: bool = True
    """The critics' minimum in the target and the actor loss (else their mean: OGBench's humanoid)."""
    precision: Precision = "default"
    """Matmul precision, as for crl."""
    needs_next_observations = True
    compute_dtype = CRLConfig.compute_dtype

    def for_run(self, steps: int) -> SACConfig:
        return self

    def validate(self) -> None:
        _positive(self, "batch_size", "lr", "target_entropy_scale")
        if not 0.0 < self.target_ema <= 1.0:
            raise CrlError(f"--agent.target-ema must lie in (0, 1], got {self.target_ema}")
        if not 0.0 < self.discount < 1.0:
            raise CrlError(f"--agent.discount must lie in (0, 1), got {self.discount}")


AgentConfig = CRLConfig | MRCRLConfig | GCBCConfig | TD3Config | SACConfig


def agent_name(config: AgentConfig) -> str:
    from crl.agents.registry import agent_name

    return agent_name(config)


@dataclass(frozen=True)
class TrainConfig:
    """One training run: data, agent, schedule, evaluation and where results go."""

    dataset: str | None = "pointmaze-medium-navigate-v0"
    """OGBench dataset name (`crl data list` shows them all); none for an online run (--env)."""
    env: str | None = None
    """Online environment (`crl envs list`): the agent gathers its own experience there instead of
    learning from --dataset. Steps, logs, checkpoints and evaluations then count environment steps."""
    preset: str = "quick"
    """Named hyperparameter preset (quick, paper); flags given after it override its values."""
    agent: AgentConfig = field(default_factory=CRLConfig)
    """The agent's hyperparameters (chosen with --agent NAME)."""
    steps: int = 1_000_000
    """Number of gradient updates (online: environment steps, over all parallel environments)."""
    seed: int = 0
    """Seed of the network initialisation, minibatches and evaluation."""
    seeds: int = 1
    """Train seeds seed .. seed + N - 1 side by side in one compiled program (vmap), each in RUN_DIR/seedS."""
    run_dir: Path | None = None
    """Where metrics, checkpoints and evaluations go (default: runs/DATASET/crl-PRESET-sSEED)."""
    resume: bool = False
    """Continue the run in --run-dir from its latest checkpoint."""
    data_dir: Path | None = None
    """Dataset directory (default: $CRL_DATA_DIR, else ~/.ogbench/data, where ogbench keeps them)."""
    log_every: int = 5_000
    """Updates per compiled chunk; metrics are averaged and logged once per chunk."""
    checkpoint_every: int = 50_000
    """Updates between checkpoints (a killed run loses at most this much work)."""
    eval_every: int = 100_000
    """Updates between evaluations (0: evaluate only at the end)."""
    eval_episodes: int = 50
    """Episodes per evaluation task (0: no evaluation)."""
    progress: bool = True
    """Show progress bars."""
    num_envs: int = 4
    """Online: environments stepped in parallel (lockstep)."""
    collect: int = 16
    """Online: transitions collected across the environments between two rounds of updates (N)."""
    update_ratio: float = 1.0
    """Online: updates per collected transition (the CRL paper: 1; JaxGCRL-style runs about 1/16)."""
    random_steps: int = 10_000
    """Online: transitions of uniformly random actions collected before the first update."""
    replay_size: int = 1_000_000
    """Online: replay capacity in transitions, kept as whole episodes."""
    wandb: bool = False
    """Also log metrics, evaluations and `crl eval --video` videos to Weights & Biases (`pip install -e
    '.[wandb]'`): online with an API key and a network, else offline under each seed's directory."""
    init_from: Path | None = None
    """Start the critic (the representations phi(s, a), psi(g) and their observation encoders) from this
    CRL run's latest checkpoint (seed 0), for transfer (CRL paper F.4); the actor starts fresh."""

    @property
    def online(self) -> bool:
        return self.env is not None

    def validate(self) -> None:
        self.agent.validate()
        _positive(self, "steps", "log_every", "checkpoint_every", "seeds")
        for name in ("eval_every", "eval_episodes"):
            if getattr(self, name) < 0:
                raise CrlError(f"--{name.replace('_', '-')} must be non-negative, got {getattr(self, name)}")
        if self.wandb and importlib.util.find_spec("wandb") is None:
            raise CrlError("--wandb needs wandb: pip install -c constraints.txt -e '.[wandb]'")
        if self.init_from is not None and not (Path(self.init_from) / "config.json").exists():
            raise CrlError(f"--init-from {self.init_from} is not a run directory (no config.json)")
        if self.online:
            self._validate_online()
        elif getattr(self.agent, "relabel_filter", None) is not None:
            raise CrlError(
                "--agent.relabel-filter needs the goal each episode was commanded, which datasets do not "
                "record: use it online (--env NAME)"
            )

    def _validate_online(self) -> None:
        from crl.envs import make_env, on_host
        from crl.envs.locomotion import LocomotionTask

        env = make_env(self.env)
        rewarded, reward_agent = isinstance(env, LocomotionTask), isinstance(self.agent, SACConfig)
        if rewarded != reward_agent:
            why = f"{self.env} has a reward, not goals" if rewarded else "--agent sac learns from a reward"
            raise CrlError(
                f"{why}: it trains the locomotion experts, `crl expert train ant|humanoid|antball`"
            )
        _positive(self, "num_envs", "collect", "update_ratio", "replay_size")
        if self.random_steps < 0:
            raise CrlError(f"--random-steps must be non-negative, got {self.random_steps}")
        if self.collect % self.num_envs:
            raise CrlError(f"--collect {self.collect} must be a multiple of --num-envs {self.num_envs}")
        whole = self.num_envs * env.episode_length
        if on_host(env) and self.collect != whole:
            raise CrlError(
                f"--collect {self.collect}: {self.env} collects whole episodes ({env.episode_length} steps) "
                f"in each of --num-envs {self.num_envs} copies per round: set --collect {whole}"
            )
        updates = self.collect * self.update_ratio
        if abs(updates - round(updates)) > 1e-9 or round(updates) < 1:
            raise CrlError(
                f"--collect x --update-ratio must be a whole number of updates, got {self.collect} x "
                f"{self.update_ratio}; pick --update-ratio k / {self.collect}"
            )
        for name in ("steps", "log_every", "checkpoint_every", "eval_every", "random_steps"):
            value = getattr(self, name)
            if value % self.collect:
                flag = name.replace("_", "-")
                raise CrlError(f"--{flag} {value} must be a multiple of --collect {self.collect}")
        length, first_episodes = env.episode_length, self.num_envs * env.episode_length
        if self.replay_size < first_episodes:
            raise CrlError(
                f"--replay-size {self.replay_size} holds {self.replay_size // length} episodes of {length} "
                f"steps, fewer than one per environment ({self.num_envs}): raise it to {first_episodes}"
            )
        if self.random_steps < first_episodes:
            raise CrlError(
                f"--random-steps {self.random_steps} ends before the first episodes do ({length} steps x "
                f"{self.num_envs} environments): raise it to at least {first_episodes}"
            )


def _check_augment(config) -> None:
    if not 0.0 <= config.augment <= 1.0:
        raise CrlError(f"--agent.augment is a probability in [0, 1], got {config.augment}")
    if config.augment and config.encoder == "identity":
        raise CrlError("--agent.augment shifts images: add --agent.encoder nature (or impala-small)")


def _check_goal_probs(probs: tuple[float, float, float]) -> None:
    if min(probs) < 0 or abs(sum(probs) - 1.0) > 1e-6:
        raise CrlError(f"--agent.actor-p-curgoal/trajgoal/randomgoal must be >= 0 and sum to 1, got {probs}")


def _positive(config: object, *names: str) -> None:
    prefix = "--" if isinstance(config, TrainConfig) else "--agent."
    for name in names:
        value = getattr(config, name)
        if value <= 0:
            raise CrlError(f"{prefix}{name.replace('_', '-')} must be positive, got {value}")


_PATHS = ("run_dir", "data_dir", "init_from")  # stored as strings in config.json


def to_dict(config: TrainConfig) -> dict:
    out = dataclasses.asdict(config)
    out["agent"] = {"name": agent_name(config.agent), **out["agent"]}
    for key in _PATHS:
        out[key] = None if out[key] is None else str(out[key])
    return out


def from_dict(raw: dict) -> TrainConfig:
    raw = dict(raw)
    agent = dict(raw.pop("agent"))
    from crl.agents.registry import AGENTS

    cls = AGENTS[agent.pop("name", "crl")].config
    agent = {k: tuple(v) if isinstance(v, list) else v for k, v in agent.items()}
    for key in _PATHS:
        raw[key] = None if raw.get(key) is None else Path(raw[key])
    return TrainConfig(agent=cls(**agent), **raw)
