"""MR-CRL: CRL with model-based predictive encoders (z1, z2, projection head m) feeding the critic.

Per update, in the paper's order (Fig. 1): the encoders take a step on the latent-dynamics loss
(Eq. 11) over an H-step segment of one trajectory; the critic takes a step on the NCE loss with
features from the frozen *target* encoders (Eq. 12); the actor takes a DDPG+BC step against the
updated critic; then the targets are refreshed (a hard copy every p updates, or an EMA).
No gradient of the critic or actor loss reaches z1, z2 or m: they only ever see the targets.
"""

from __future__ import annotations

from functools import partial

import flax.linen as nn
import flax.struct
import jax
import jax.numpy as jnp
import optax

from crl.agents import crl
from crl.config import MRCRLConfig
from crl.data.sampling import Batch, DeviceData, Segment, batch_at, segments
from crl.errors import CrlError
from crl.networks import MLP, example_input, states_only

GROUPS = ("encoder", "critic", "actor")


class MRCRLState(flax.struct.PyTreeNode):
    params: dict  # {'encoder': {'z1', 'z2', 'm'}, 'critic': ..., 'actor': ...}
    target: dict  # target copy of params['encoder']
    center: jax.Array  # running mean of the teacher's projection logits (DINO centering)
    opt_state: dict  # one Adam state per group
    rng: jax.Array
    step: jax.Array


def encoder_nets(config: MRCRLConfig) -> dict[str, nn.Module]:
    return {
        "z1": MLP(config.encoder_hidden, config.zs_dim, layer_norm=True, dtype=config.compute_dtype),
        "z2": MLP(config.encoder_hidden, config.zs_dim, layer_norm=True, dtype=config.compute_dtype),
        "m": MLP((config.proj_hidden,), config.proj_dim, layer_norm=False, dtype=config.compute_dtype),
    }


def _apply(config: MRCRLConfig, name: str, params: dict, x: jax.Array) -> jax.Array:
    return encoder_nets(config)[name].apply({"params": params[name]}, x)


def z1(config: MRCRLConfig, enc: dict, obs: jax.Array) -> jax.Array:
    return _apply(config, "z1", enc, obs)


def z2(config: MRCRLConfig, enc: dict, zs: jax.Array, actions: jax.Array) -> jax.Array:
    return _apply(config, "z2", enc, jnp.concatenate([zs, actions], -1))


# --- Where the target encoders' features go (Table 2) -------------------------------------------


def state_action_input(config: MRCRLConfig, target: dict, obs: jax.Array, actions: jax.Array) -> jax.Array:
    """phi's input: [s, a, z1'(s), z2'(z1'(s), a)], without z1'(s) in the no-state-encoder variant."""
    zs = z1(config, target, obs)
    zsa = z2(config, target, zs, actions)
    if config.variant == "no-state-encoder":
        return jnp.concatenate([obs, actions, zsa], -1)
    return jnp.concatenate([obs, actions, zs, zsa], -1)


def goal_input(config: MRCRLConfig, target: dict, goals: jax.Array) -> jax.Array:
    """psi's input: g, or [g, z1'(g)] in the goal-encoder variant."""
    if config.variant == "goal-encoder":
        return jnp.concatenate([goals, z1(config, target, goals)], -1)
    return goals


def actor_input(config: MRCRLConfig, target: dict, obs: jax.Array) -> jax.Array:
    """pi's state input: s, or [s, z1'(s)] in the actor-encoder variant."""
    if config.variant == "actor-encoder":
        return jnp.concatenate([obs, z1(config, target, obs)], -1)
    return obs


# --- Losses --------------------------------------------------------------------------------------


def teacher_temperature(config: MRCRLConfig, step: jax.Array) -> jax.Array:
    """tau_t from teacher_temp_start at step 0 to teacher_temp_end at teacher_temp_steps, then constant:
    a straight line (linear-warmup, DINOv2's) or a half cosine (cosine)."""
    frac = jnp.clip(step / max(config.teacher_temp_steps, 1), 0.0, 1.0)
    if config.teacher_temp_schedule == "cosine":
        frac = (1 - jnp.cos(jnp.pi * frac)) / 2
    return config.teacher_temp_start + (config.teacher_temp_end - config.teacher_temp_start) * frac


def predicted_latents(config: MRCRLConfig, enc: dict, seg: Segment) -> jax.Array:
    """zhat_1 .. zhat_H, (B, H, d): a latent rollout from z1(s_t), or teacher-forced from z1(s_{t+h-1})."""
    if config.rollout == "teacher-forced":
        return z2(config, enc, z1(config, enc, seg.observations[:, :-1]), seg.actions)

    def step(z, action):
        z = z2(config, enc, z, action)
        return z, z

    _, zs = jax.lax.scan(step, z1(config, enc, seg.observations[:, 0]), jnp.swapaxes(seg.actions, 0, 1))
    return jnp.swapaxes(zs, 0, 1)


def dynamics_ce(student_logits: jax.Array, teacher_logits: jax.Array, tau_s, tau_t) -> tuple[jax.Array, ...]:
    """Eq. 11 per step: CE(softmax(teacher / tau_t), softmax(student / tau_s)), and both entropies."""
    p_teacher = jax.nn.softmax(jax.lax.stop_gradient(teacher_logits) / tau_t, -1)
    log_student = jax.nn.log_softmax(student_logits / tau_s, -1)
    ce = -jnp.sum(p_teacher * log_student, -1)
    teacher_entropy = -jnp.sum(p_teacher * jnp.log(p_teacher + 1e-12), -1)
    student_entropy = -jnp.sum(jnp.exp(log_student) * log_student, -1)
    return ce, teacher_entropy, student_entropy


def dynamics_l2(predicted: jax.Array, target_latent: jax.Array) -> jax.Array:
    """Eq. 3 per step: || sg(z1'(s_{t+h})) - zhat_h ||^2."""
    return jnp.sum((jax.lax.stop_gradient(target_latent) - predicted) ** 2, -1)


def _masked_mean(x: jax.Array, valid: jax.Array) -> jax.Array:
    """Mean over the batch axis of the valid entries, per horizon step: (B, H) -> (H,)."""
    return jnp.sum(x * valid, 0) / jnp.maximum(jnp.sum(valid, 0), 1)


def encoder_loss(
    enc: dict, target: dict, center: jax.Array, seg: Segment, config: MRCRLConfig, tau_t: jax.Array
) -> tuple[jax.Array, tuple[dict, jax.Array]]:
    """The horizon-summed dynamics loss; also returns metrics and the batch mean of teacher logits."""
    predicted = predicted_latents(config, enc, seg)
    target_latent = z1(config, target, seg.observations[:, 1:])
    info: dict = {}
    if config.variant == "l2-loss":
        per_step = _masked_mean(dynamics_l2(predicted, target_latent), seg.valid)
        batch_center = center
    else:
        teacher_logits = _apply(config, "m", target, target_latent)
        shifted = teacher_logits - center if config.teacher_centering else teacher_logits
        ce, h_teacher, h_student = dynamics_ce(
            _apply(config, "m", enc, predicted), shifted, config.student_temp, tau_t
        )
        per_step = _masked_mean(ce, seg.valid)
        info.update(
            teacher_entropy=jnp.mean(_masked_mean(h_teacher, seg.valid)),
            student_entropy=jnp.mean(_masked_mean(h_student, seg.valid)),
        )
        weights = seg.valid[..., None]
        batch_center = jnp.sum(teacher_logits * weights, (0, 1)) / jnp.maximum(jnp.sum(weights), 1)
    loss = jnp.sum(per_step)
    info.update(
        loss=loss, teacher_temp=tau_t, **{f"loss_h{h + 1}": per_step[h] for h in range(config.horizon)}
    )
    return loss, (info, jax.lax.stop_gradient(batch_center))


def critic_loss(config: MRCRLConfig, critic_params, target: dict, batch: Batch) -> tuple[jax.Array, dict]:
    state_action = state_action_input(config, target, batch.observations, batch.actions)
    return crl.contrastive_loss(
        config, critic_params, state_action, None, goal_input(config, target, batch.critic_goals)
    )


def actor_loss(config: MRCRLConfig, actor_params, critic_params, target: dict, batch: Batch):
    goals = goal_input(config, target, batch.actor_goals)

    def q_fn(actions):
        state_action = state_action_input(config, target, batch.observations, actions)
        return crl.q_values(config, critic_params, state_action, None, goals)

    obs = actor_input(config, target, batch.observations)
    return crl.ddpg_bc(config, actor_params, obs, batch.actor_goals, q_fn, batch.actions)


# --- init / update / act -------------------------------------------------------------------------


def optimizer(config: MRCRLConfig) -> optax.GradientTransformation:
    return optax.adam(config.lr)


def init(
    key: jax.Array, config: MRCRLConfig, obs_dim: int, action_dim: int, goal_dim: int | None = None
) -> MRCRLState:
    states_only("mrcrl", obs_dim, goal_dim)
    if goal_dim not in (None, obs_dim):
        raise CrlError(f"mrcrl encodes goals as states ({obs_dim} numbers); these goals have {goal_dim}")
    keys = dict(zip(("z1", "z2", "m", "critic", "actor", "state"), jax.random.split(key, 6), strict=True))
    obs, act = example_input(obs_dim), jnp.zeros((1, action_dim))
    zs = jnp.zeros((1, config.zs_dim))
    nets = encoder_nets(config)
    enc = {
        "z1": nets["z1"].init(keys["z1"], obs)["params"],
        "z2": nets["z2"].init(keys["z2"], jnp.concatenate([zs, act], -1))["params"],
        "m": nets["m"].init(keys["m"], zs)["params"],
    }
    critic_in = state_action_input(config, enc, obs, act)
    params = {
        "encoder": enc,
        "critic": crl.critic_net(config).init(keys["critic"], critic_in, None, goal_input(config, enc, obs))[
            "params"
        ],
        "actor": crl.actor_net(config, action_dim).init(keys["actor"], actor_input(config, enc, obs), obs)[
            "params"
        ],
    }
    opt_state = {g: optimizer(config).init(params[g]) for g in GROUPS}
    center = jnp.zeros((config.proj_dim,))
    return MRCRLState(
        params, jax.tree.map(jnp.copy, enc), center, opt_state, keys["state"], jnp.zeros((), jnp.int32)
    )


def _step(config: MRCRLConfig, params, grads, opt_state):
    updates, opt_state = optimizer(config).update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state


def refresh_targets(config: MRCRLConfig, target: dict, online: dict, step: jax.Array) -> dict:
    """EMA every update for the ema-target variant; otherwise a hard copy when `step` is a multiple of p."""
    if config.variant == "ema-target":
        return jax.tree.map(lambda t, o: (1 - config.target_ema) * t + config.target_ema * o, target, online)
    due = step % config.target_every == 0
    return jax.tree.map(lambda t, o: jnp.where(due, o, t), target, online)


def _draw(k_idx: jax.Array, k_goals: jax.Array, data: DeviceData, config: MRCRLConfig):
    """A CRL minibatch and the H-step segments that follow its states."""
    idx = data.start_rows(k_idx, config.batch_size)
    truncated = config.critic_goals == "truncated-geometric"
    batch = batch_at(k_goals, data, idx, config.discount, config.actor_goal_probs, truncated)
    return batch, segments(data, idx, config.horizon)


def draw(key: jax.Array, data: DeviceData, config: MRCRLConfig) -> tuple[Batch, Segment]:
    return _draw(*jax.random.split(key), data, config)


def sample(state: MRCRLState, data: DeviceData, config: MRCRLConfig) -> tuple[Batch, Segment]:
    """The minibatch of the next update: drawn with the last two thirds of the state's key split."""
    return _draw(*jax.random.split(state.rng, 3)[1:], data, config)


def update(state: MRCRLState, sampled: tuple[Batch, Segment], config: MRCRLConfig) -> tuple[MRCRLState, dict]:
    rng, _, _ = jax.random.split(state.rng, 3)  # the other two keys drew the minibatch (`sample`)
    batch, seg = sampled
    params, opt_state, target = dict(state.params), dict(state.opt_state), state.target

    tau_t = teacher_temperature(config, state.step)
    grads, (e_info, batch_center) = jax.grad(encoder_loss, has_aux=True)(
        params["encoder"], target, state.center, seg, config, tau_t
    )
    params["encoder"], opt_state["encoder"] = _step(config, params["encoder"], grads, opt_state["encoder"])

    grads, c_info = jax.grad(critic_loss, argnums=1, has_aux=True)(config, params["critic"], target, batch)
    params["critic"], opt_state["critic"] = _step(config, params["critic"], grads, opt_state["critic"])

    grads, a_info = jax.grad(actor_loss, argnums=1, has_aux=True)(
        config, params["actor"], params["critic"], target, batch
    )
    params["actor"], opt_state["actor"] = _step(config, params["actor"], grads, opt_state["actor"])

    step = state.step + 1
    center = config.center_momentum * state.center + (1 - config.center_momentum) * batch_center
    new_state = MRCRLState(
        params, refresh_targets(config, target, params["encoder"], step), center, opt_state, rng, step
    )
    info = {
        **crl.prefixed("encoder", e_info),
        **crl.prefixed("critic", c_info),
        **crl.prefixed("actor", a_info),
    }
    return new_state, info


def validation_metrics(
    state: MRCRLState, data: DeviceData, config: MRCRLConfig, key: jax.Array, batches: int = 8
):
    """Critic and encoder losses on held-out data (no update), averaged over a few training-size batches."""
    tau_t = teacher_temperature(config, state.step)

    def one(k):
        batch, seg = draw(k, data, config)
        _, c_info = critic_loss(config, state.params["critic"], state.target, batch)
        e_loss, _ = encoder_loss(state.params["encoder"], state.target, state.center, seg, config, tau_t)
        return {**c_info, "encoder_loss": e_loss}

    return crl.prefixed("val", jax.tree.map(jnp.mean, jax.vmap(one)(jax.random.split(key, batches))))


@partial(jax.jit, static_argnums=(0, 1))
def act(
    config: MRCRLConfig, action_dim: int, state: MRCRLState, obs: jax.Array, goals: jax.Array
) -> jax.Array:
    obs_in = actor_input(config, state.target, obs)
    mean, _ = crl.actor_net(config, action_dim).apply({"params": state.params["actor"]}, obs_in, goals)
    return jnp.clip(mean, -1, 1)
