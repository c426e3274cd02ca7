"""Goal-conditioned behavioural cloning (GCBC): a reference agent on the same data path as CRL."""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import optax

from crl.agents.crl import TrainState, prefixed
from crl.config import GCBCConfig
from crl.data.sampling import Batch, DeviceData, sample_batch
from crl.networks import Actor, check_encoder, example_input, gaussian_log_prob


def actor_net(config: GCBCConfig, action_dim: int) -> Actor:
    return Actor(
        config.hidden, action_dim, activation=config.activation, dtype=config.compute_dtype,
        encoder=config.encoder,
    )  # fmt: skip


def init(
    key: jax.Array, config: GCBCConfig, obs_dim: int, action_dim: int, goal_dim: int | None = None
) -> TrainState:
    k_actor, k_state = jax.random.split(key)
    check_encoder(config.encoder, obs_dim)
    obs, goal = example_input(obs_dim), example_input(goal_dim or obs_dim)
    params = {"actor": actor_net(config, action_dim).init(k_actor, obs, goal)["params"]}
    return TrainState(params, optax.adam(config.lr).init(params), k_state, jnp.zeros((), jnp.int32))


def bc_loss(params: dict, config: GCBCConfig, batch: Batch) -> tuple[jax.Array, dict]:
    """-log pi(a | s, g) under a unit-std Gaussian, or the squared error for a deterministic actor."""
    mean, log_std = actor_net(config, batch.actions.shape[-1]).apply(
        {"params": params["actor"]}, batch.observations, batch.actor_goals
    )
    mse = jnp.mean(jnp.sum((mean - batch.actions) ** 2, -1))
    nll = -jnp.mean(gaussian_log_prob(batch.actions, mean, log_std))
    loss = nll if config.actor == "gaussian" else mse
    return loss, {"loss": loss, "mse": mse}


def draw(key: jax.Array, data: DeviceData, config: GCBCConfig) -> Batch:
    return sample_batch(
        key, data, config.batch_size, config.discount, config.actor_goal_probs, augment=config.augment
    )


def sample(state: TrainState, data: DeviceData, config: GCBCConfig) -> Batch:
    """The minibatch of the next update: drawn with the second half of the state's key split."""
    return draw(jax.random.split(state.rng)[1], data, config)


def update(state: TrainState, batch: Batch, config: GCBCConfig) -> tuple[TrainState, dict]:
    rng, _ = jax.random.split(state.rng)  # the second key drew the batch (`sample`)
    grads, info = jax.grad(bc_loss, has_aux=True)(state.params, config, batch)
    updates, opt_state = optax.adam(config.lr).update(grads, state.opt_state, state.params)
    return TrainState(optax.apply_updates(state.params, updates), opt_state, rng, state.step + 1), prefixed(
        "actor", info
    )


def validation_metrics(state: TrainState, data: DeviceData, config: GCBCConfig, key: jax.Array) -> dict:
    return prefixed("val", bc_loss(state.params, config, draw(key, data, config))[1])


@partial(jax.jit, static_argnums=(0, 1))
def act(
    config: GCBCConfig, action_dim: int, state: TrainState, obs: jax.Array, goals: jax.Array
) -> jax.Array:
    mean, _ = actor_net(config, action_dim).apply({"params": state.params["actor"]}, obs, goals)
    return jnp.clip(mean, -1, 1)
