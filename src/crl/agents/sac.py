"""Soft actor-critic on the environment's reward: the locomotion experts (`crl expert train`).

Twin critics regress on the soft target

    y = r + gamma * mask * (Q'(s', a') - alpha * log pi(a' | s')),   a' ~ pi(. | s'),

Q' the critics' minimum (or mean, `min_q=False`) under EMA target parameters. The actor minimises
E[alpha log pi(a | s) - Q(s, a)] with a ~ pi reparameterised through a tanh-squashed Gaussian, and the
temperature alpha = exp(log_alpha) minimises alpha * (H(pi) - target) toward the target entropy
target = -scale * dim(a). One Adam step on the three losses together per update (OGBench's recipe).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from crl.agents.crl import TrainState, ema, policy_sample
from crl.config import CRLConfig, SACConfig
from crl.data import transitions
from crl.data.transitions import Transitions
from crl.networks import MLP, Actor, ensemble, example_input

_TANH = CRLConfig(actor="tanh-gaussian", actor_loss="sac", alpha=0.0)  # selects policy_sample's tanh density
_NO_GOAL = 0  # the experts' commands are part of their observations


def critic_net(config: SACConfig):
    return ensemble(MLP, 2)(
        config.critic_hidden,
        1,
        layer_norm=config.layer_norm,
        activation=config.activation,
        dtype=config.compute_dtype,
    )


def actor_net(config: SACConfig, action_dim: int) -> Actor:
    return Actor(
        config.hidden, action_dim, learned_std=True, activation=config.activation, dtype=config.compute_dtype
    )


def _no_goal(x: jax.Array) -> jax.Array:
    return jnp.zeros((*x.shape[:-1], _NO_GOAL), x.dtype)


def init(key: jax.Array, config: SACConfig, obs_dim: int, action_dim: int, goal_dim=None) -> TrainState:
    k_critic, k_actor, k_state = jax.random.split(key, 3)
    obs, act = example_input(obs_dim), jnp.zeros((1, action_dim))
    params = {
        "critic": critic_net(config).init(k_critic, jnp.concatenate([obs, act], -1))["params"],
        "actor": actor_net(config, action_dim).init(k_actor, obs, _no_goal(obs))["params"],
        "log_alpha": jnp.zeros(()),  # alpha starts at 1, as OGBench's
    }
    target = {"critic": jax.tree.map(jnp.copy, params["critic"])}
    return TrainState(params, optax.adam(config.lr).init(params), k_state, jnp.zeros((), jnp.int32), target)


def q_values(config: SACConfig, critic_params, obs, actions) -> jax.Array:
    """(2, B): both critics' Q(s, a)."""
    return critic_net(config).apply({"params": critic_params}, jnp.concatenate([obs, actions], -1))[..., 0]


def _combine(config: SACConfig, q: jax.Array) -> jax.Array:
    return jnp.min(q, 0) if config.min_q else jnp.mean(q, 0)


def _policy(config: SACConfig, actor_params, obs, key):
    """a ~ pi(. | s) and log pi(a | s)."""
    mean, log_std = actor_net(config, _action_dim(actor_params)).apply(
        {"params": actor_params}, obs, _no_goal(obs)
    )
    return policy_sample(_TANH, mean, log_std, key)


def _action_dim(actor_params) -> int:
    return actor_params["mean"]["bias"].shape[-1]


def losses(params, target: dict, batch: dict, key: jax.Array, config: SACConfig, action_dim: int):
    """The critic, actor and temperature losses, summed (one Adam step takes all three)."""
    k_next, k_now = jax.random.split(key)
    alpha = jnp.exp(params["log_alpha"])
    next_a, next_log_p = _policy(config, params["actor"], batch["next_observations"], k_next)
    next_q = _combine(config, q_values(config, target["critic"], batch["next_observations"], next_a))
    soft = next_q - jax.lax.stop_gradient(alpha) * next_log_p
    y = jax.lax.stop_gradient(batch["rewards"] + config.discount * batch["masks"] * soft)
    q = q_values(config, params["critic"], batch["observations"], batch["actions"])
    critic = jnp.mean((q - y) ** 2)

    a, log_p = _policy(config, params["actor"], batch["observations"], k_now)
    q_pi = _combine(
        config, q_values(config, jax.lax.stop_gradient(params["critic"]), batch["observations"], a)
    )
    actor = jnp.mean(jax.lax.stop_gradient(alpha) * log_p - q_pi)

    entropy = -jnp.mean(jax.lax.stop_gradient(log_p))
    temperature = alpha * (entropy - (-config.target_entropy_scale * action_dim))
    info = {
        "critic/loss": critic,
        "critic/q_mean": jnp.mean(q),
        "actor/loss": actor,
        "actor/entropy": entropy,
        "alpha": alpha,
        "reward": jnp.mean(batch["rewards"]),
    }
    return critic + actor + temperature, info


def sample(state: TrainState, data: Transitions, config: SACConfig) -> dict:
    """The minibatch of the next update: drawn with the middle third of the state's key split."""
    return transitions.sample(jax.random.split(state.rng, 3)[1], data, config.batch_size)


def update(state: TrainState, batch: dict, config: SACConfig) -> tuple[TrainState, dict]:
    rng, _, k_loss = jax.random.split(state.rng, 3)  # the middle key drew the batch (`sample`)
    action_dim = batch["actions"].shape[-1]
    grads, info = jax.grad(losses, has_aux=True)(
        state.params, state.target, batch, k_loss, config, action_dim
    )
    updates, opt_state = optax.adam(config.lr).update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    target = {"critic": ema(config.target_ema, state.target["critic"], params["critic"])}
    return TrainState(params, opt_state, rng, state.step + 1, target), info


def act(config: SACConfig, action_dim: int, state: TrainState, obs: jax.Array, goals=None) -> jax.Array:
    """The deterministic action tanh(mean): what the expert does when it drives a dataset's episodes."""
    mean, _ = actor_net(config, action_dim).apply({"params": state.params["actor"]}, obs, _no_goal(obs))
    return jnp.tanh(mean)


def explore(config: SACConfig, action_dim: int, state: TrainState, obs: jax.Array, goals, key: jax.Array):
    return _policy(config, state.params["actor"], obs, key)[0]
