"""What the analyses look at: observations of points spread over a maze's free space, and an agent's
representations of them.

- CRL's state-action representation phi(s, a) (the critic's first encoder; ensemble member 0), and for
  a pair (s, g) the terms whose sum makes the critic's logit: phi(s, a) * psi(g) (dot energy; the logit
  is their sum / sqrt(d)) or (phi(s, a) - psi(g))^2 (l2 energy; the logit is minus the root of their
  sum). A linear probe on them can reweigh each dimension of the critic's comparison.
- TD3+HER has no separate representations: for pairs, its first critic's last hidden layer on (s, a, g);
  for observations alone (image runs), what its first critic's CNN makes of them before the action and
  the goal join (the paper's Fig. 16e).
Actions are zero, as in the paper's Fig. 16.
"""

from __future__ import annotations

from functools import partial

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from crl.agents import crl as crl_agent
from crl.config import AgentConfig, CRLConfig, TD3Config, agent_name
from crl.encoders import make_encoder
from crl.envs.point import PointMaze, PointState
from crl.errors import CrlError
from crl.networks import ACTIVATIONS, GoalQ


def grid_points(env: PointMaze, per_cell: int) -> np.ndarray:
    """(N, 2) positions: a per_cell x per_cell grid inside every free cell, row-major by cell."""
    offsets = (np.arange(per_cell) + 0.5) / per_cell
    inside = np.stack(np.meshgrid(offsets, offsets, indexing="ij"), -1).reshape(-1, 2)
    return np.concatenate([cell + inside for cell in env.free_cells]).astype(np.float32)


def random_points(env: PointMaze, n: int, seed: int) -> np.ndarray:
    """(n, 2) positions uniform over the maze's free space (a free cell, then a point in it)."""
    keys = jax.random.split(jax.random.PRNGKey(seed), n)
    return np.asarray(jax.vmap(env.random_position)(keys))


def observations(env: PointMaze, positions: np.ndarray) -> jax.Array:
    """What the agent sees at each position: the position itself, or the maze's image of it."""
    positions = jnp.asarray(positions)
    states = PointState(positions, positions, jnp.zeros(len(positions), bool))
    return jax.jit(jax.vmap(env.observation))(states)


def state_action(
    config: AgentConfig, params: dict, obs: jax.Array, action_dim: int = 0, actions: jax.Array | None = None
) -> np.ndarray:
    """(N, d) phi(s, a) of a CRL agent: a = `actions`, or zeros of `action_dim`; of a TD3+HER agent on
    images, its first critic's CNN features of s."""
    if isinstance(config, TD3Config) and config.encoder != "identity":
        return np.asarray(_td3_observed(config, _first(params["critic"]), obs))
    _require_crl(config, "t-SNE of phi(s, a)")
    actions = jnp.zeros((len(obs), action_dim)) if actions is None else actions
    phi, _, _ = _encode(config, params["critic"], obs, actions, obs)
    return np.asarray(phi)


def pair_features(config: AgentConfig, params: dict, obs: jax.Array, goals: jax.Array, action_dim: int):
    """(N, F) features of (s, a = 0, g) pairs for the linear probe (see the module's docstring)."""
    actions = jnp.zeros((len(obs), action_dim))
    if isinstance(config, CRLConfig):
        phi, psi, _ = _encode(config, params["critic"], obs, actions, goals)
        return np.asarray((phi - psi) ** 2 if config.energy == "l2" else phi * psi)
    if isinstance(config, TD3Config):
        return np.asarray(_td3_hidden(config, _first(params["critic"]), obs, actions, goals))
    raise CrlError(f"the probe reads crl and td3her runs, not {agent_name(config)}")


def _require_crl(config: AgentConfig, what: str) -> None:
    if not isinstance(config, CRLConfig):
        raise CrlError(
            f"{what} needs a crl run's representations (or a td3her run's image encoder); this run trained "
            f"{agent_name(config)}{' on states' if isinstance(config, TD3Config) else ''}"
        )


_encode_all = jax.jit(crl_agent._encode, static_argnums=0)


def _encode(config: CRLConfig, critic_params, obs, actions, goals):
    """(phi, psi, log_scale) of ensemble member 0."""
    phi, psi, log_scale = _encode_all(config, critic_params, obs, actions, goals)
    return phi[0], psi[0], log_scale[0]


def _first(critic_params: dict) -> dict:
    return jax.tree.map(lambda p: p[0], critic_params)  # ensemble member 0


def _dense(module: nn.Module, method: str) -> bool:
    return isinstance(module, nn.Dense)


@partial(jax.jit, static_argnums=0)
def _td3_hidden(config: TD3Config, critic_params, obs, actions, goals) -> jax.Array:
    """A critic's last hidden layer on (s, a, g): its last hidden Dense layer's output, activated (TD3's
    critics have no layer norm)."""
    critic = GoalQ(config.hidden, config.activation, encoder=config.encoder)
    _, captured = critic.apply({"params": critic_params}, obs, actions, goals, capture_intermediates=_dense)
    last = captured["intermediates"][f"Dense_{len(config.hidden) - 1}"]["__call__"][0]
    return ACTIVATIONS[config.activation](last)


@partial(jax.jit, static_argnums=0)
def _td3_observed(config: TD3Config, critic_params, obs) -> jax.Array:
    """A critic's encoder features of the observations alone."""
    return make_encoder(config.encoder).apply({"params": critic_params["encoder"]}, obs)
