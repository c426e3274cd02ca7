"""Gradient similarity (the CRL paper's Fig. 17): the cosine similarity between the gradients of the critic
f(s, a = 0, g) with respect to its parameters at one state for different goals, and at different states
for one goal. High similarity means an update at one (state, goal) moves the critic's predictions at
many others (interference); the paper finds it high for an untrained network and low after contrastive
RL. For ensembles and twin critics, f is the first member's."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from crl.agents import agent_module
from crl.analysis.runs import AnalyzedAgent


def cosine_matrix(vectors: jax.Array) -> np.ndarray:
    """(K, K) cosine similarities between the rows of `vectors` (K, P)."""
    unit = vectors / jnp.maximum(jnp.linalg.norm(vectors, axis=-1, keepdims=True), 1e-12)
    return np.asarray(unit @ unit.T)


def critic_gradients(agent: AnalyzedAgent, obs: jax.Array, goals: jax.Array) -> jax.Array:
    """(K, P): the flattened gradient of f(obs_k, 0, goals_k) with respect to the critic's parameters."""
    module, config = agent_module(agent.config), agent.config
    flat, unravel = ravel_pytree(agent.state.params["critic"])

    def f(params, o, g):
        q = module.q_values(config, unravel(params), o[None], jnp.zeros((1, agent.space.action_dim)), g[None])
        return q[0, 0]

    return jax.jit(jax.vmap(jax.grad(f), in_axes=(None, 0, 0)))(flat, obs, goals)


def similarities(agent: AnalyzedAgent, points: int, seed: int = 0) -> dict[str, np.ndarray]:
    """{'goals': one state, `points` goals; 'states': `points` states, one goal}: cosine matrices. The
    points are spread over the maze's free space, ordered by cell so that nearby points sit together."""
    space = agent.space
    spread = space.points(points, seed)
    spread = spread[np.lexsort((spread[:, 1], spread[:, 0]))]
    anchor = np.repeat(space.points(1, seed + 1), points, 0)
    many, one = space.observe(spread), space.observe(anchor)
    return {
        "goals": cosine_matrix(critic_gradients(agent, one, many)),
        "states": cosine_matrix(critic_gradients(agent, many, one)),
    }


def off_diagonal_mean(matrix: np.ndarray) -> float:
    mask = ~np.eye(len(matrix), dtype=bool)
    return float(matrix[mask].mean())
