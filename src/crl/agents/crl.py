"""Contrastive RL (NCE critic, DDPG+BC actor) as pure functions: init, update, act.

Each update samples its own minibatch from the on-device dataset, so `update` can run under
`lax.scan` (many updates per compiled call) and `vmap` (many seeds) without host round trips.
The critic and actor pieces take prepared inputs, so that MR-CRL reuses them with its features.
"""

from __future__ import annotations

import math
from functools import partial

import flax.struct
import jax
import jax.numpy as jnp
import optax

from crl.agents.losses import contrastive_metrics, critic_logits, ddpg_bc_loss, nce_binary_loss
from crl.config import CRLConfig
from crl.data.sampling import Batch, DeviceData, sample_batch
from crl.networks import Actor, ContrastiveEncoders, ensemble


class TrainState(flax.struct.PyTreeNode):
    params: dict  # {'critic': ..., 'actor': ...}
    opt_state: optax.OptState
    rng: jax.Array
    step: jax.Array


def critic_net(config: CRLConfig):
    return ensemble(ContrastiveEncoders, config.ensemble)(config.hidden, config.latent_dim, config.layer_norm)


def actor_net(config: CRLConfig, action_dim: int) -> Actor:
    return Actor(config.hidden, action_dim)


def optimizer(config: CRLConfig) -> optax.GradientTransformation:
    return optax.adam(config.lr)


def init(key: jax.Array, config: CRLConfig, obs_dim: int, action_dim: int) -> TrainState:
    k_critic, k_actor, k_state = jax.random.split(key, 3)
    obs, act = jnp.zeros((1, obs_dim)), jnp.zeros((1, action_dim))
    params = {
        "critic": critic_net(config).init(k_critic, jnp.concatenate([obs, act], -1), obs)["params"],
        "actor": actor_net(config, action_dim).init(k_actor, obs, obs)["params"],
    }
    return TrainState(params, optimizer(config).init(params), k_state, jnp.zeros((), jnp.int32))


def q_values(config: CRLConfig, critic_params, state_action: jax.Array, goals: jax.Array) -> jax.Array:
    """f for matching rows, one per ensemble member: (E, B)."""
    phi, psi = critic_net(config).apply({"params": critic_params}, state_action, goals)
    return jnp.sum(phi * psi, -1) / math.sqrt(config.latent_dim)


def contrastive_loss(config: CRLConfig, critic_params, state_action: jax.Array, goals: jax.Array):
    """NCE-binary over the B x B matrix of every state-action input against every goal input."""
    phi, psi = critic_net(config).apply({"params": critic_params}, state_action, goals)
    logits = critic_logits(phi, psi)  # (E, B, B)
    loss = nce_binary_loss(logits)
    return loss, {"loss": loss, **contrastive_metrics(logits)}


def ddpg_bc(config: CRLConfig, actor_params, actor_obs, goals, q_fn, batch_actions) -> tuple[jax.Array, dict]:
    """The actor's DDPG+BC loss; `q_fn(actions) -> (E, B)` evaluates the frozen critic."""
    mean = actor_net(config, batch_actions.shape[-1]).apply({"params": actor_params}, actor_obs, goals)
    q = jnp.min(q_fn(jnp.clip(mean, -1, 1)), 0)
    return ddpg_bc_loss(q, mean, batch_actions, config.alpha, config.actor)


def critic_loss(config: CRLConfig, critic_params, batch: Batch) -> tuple[jax.Array, dict]:
    state_action = jnp.concatenate([batch.observations, batch.actions], -1)
    return contrastive_loss(config, critic_params, state_action, batch.critic_goals)


def actor_loss(config: CRLConfig, actor_params, critic_params, batch: Batch) -> tuple[jax.Array, dict]:
    def q_fn(actions):
        state_action = jnp.concatenate([batch.observations, actions], -1)
        return q_values(config, critic_params, state_action, batch.actor_goals)

    return ddpg_bc(config, actor_params, batch.observations, batch.actor_goals, q_fn, batch.actions)


def total_loss(params: dict, config: CRLConfig, batch: Batch) -> tuple[jax.Array, dict]:
    """Critic loss + actor loss; the actor term sees the critic through stop_gradient."""
    c_loss, c_info = critic_loss(config, params["critic"], batch)
    a_loss, a_info = actor_loss(config, params["actor"], jax.lax.stop_gradient(params["critic"]), batch)
    return c_loss + a_loss, {**prefixed("critic", c_info), **prefixed("actor", a_info)}


def prefixed(prefix: str, info: dict) -> dict:
    return {f"{prefix}/{k}": v for k, v in info.items()}


def update(state: TrainState, data: DeviceData, config: CRLConfig) -> tuple[TrainState, dict]:
    """One gradient step on a freshly sampled minibatch; returns the new state and scalar metrics."""
    rng, key = jax.random.split(state.rng)
    batch = sample_batch(key, data, config.batch_size, config.discount, config.actor_goal_probs)
    grads, info = jax.grad(total_loss, has_aux=True)(state.params, config, batch)
    updates, opt_state = optimizer(config).update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    return TrainState(params, opt_state, rng, state.step + 1), info


def validation_metrics(state, data: DeviceData, config: CRLConfig, key: jax.Array, batches: int = 8) -> dict:
    """Critic loss and accuracies on held-out data (no update), averaged over a few training-size batches."""

    def one(k):
        batch = sample_batch(k, data, config.batch_size, config.discount, config.actor_goal_probs)
        return critic_loss(config, state.params["critic"], batch)[1]

    info = jax.tree.map(jnp.mean, jax.vmap(one)(jax.random.split(key, batches)))
    return prefixed("val", info)


@partial(jax.jit, static_argnums=(0, 1))
def act(config: CRLConfig, action_dim: int, state: TrainState, obs: jax.Array, goals: jax.Array) -> jax.Array:
    """Deterministic evaluation actions: the actor's mean, clipped to the action box."""
    return jnp.clip(actor_net(config, action_dim).apply({"params": state.params["actor"]}, obs, goals), -1, 1)
