"""The t-SNE views of the CRL paper's Fig. 16: phi(s, a = 0) at points spread over a maze's free space,
embedded in 2-D by scikit-learn's t-SNE and coloured by where each point is, so a representation that
has learnt the maze keeps neighbours (and rooms) together; and (as its Fig. 14) phi(s_t, a_t) along one
episode, coloured by time: of the agent's own deterministic policy, or a dataset's trajectory."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from crl.agents import agent_module
from crl.analysis import features
from crl.analysis.runs import AnalyzedAgent


def embed(x: np.ndarray, seed: int = 0) -> np.ndarray:
    """(N, 2) t-SNE embedding of the rows of x."""
    from sklearn.manifold import TSNE

    perplexity = min(30.0, (len(x) - 1) / 3)
    return TSNE(2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(x.astype(np.float64))


def tsne_agent(agent: AnalyzedAgent, per_cell: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(positions (N, 2), embedding (N, 2)) of the agent's phi(s, a = 0) over the maze's grid points."""
    positions = agent.space.grid(per_cell)
    phi = features.state_action(agent.config, agent.state.params, agent.space.observe(positions),
                                agent.space.action_dim)  # fmt: skip
    return positions, embed(phi, seed)


def episode(agent: AnalyzedAgent, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One episode of the agent's deterministic policy from the maze's reset `seed`: (positions (T + 1, 2),
    observations (T + 1, ...), actions (T + 1, A); the last action is the policy's at the final state)."""
    env, config = agent.space.env, agent.config
    act = jax.jit(lambda s, o, g: agent_module(config).act(config, env.action_dim, s, o[None], g[None])[0])
    step = jax.jit(env.step)
    state, positions, observations, actions = env.reset(jax.random.PRNGKey(seed)), [], [], []
    keys = jax.random.split(jax.random.PRNGKey(seed + 1), env.episode_length + 1)
    for t in range(env.episode_length + 1):
        obs = env.observation(state)
        action = act(agent.state, obs, env.goal(state))
        positions.append(state.position)
        observations.append(obs)
        actions.append(action)
        if t < env.episode_length:
            state = step(state, action, keys[t])
    return tuple(np.asarray(jnp.stack(xs)) for xs in (positions, observations, actions))


def tsne_episode(agent: AnalyzedAgent, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(positions (T + 1, 2), embedding (T + 1, 2)) of phi(s_t, a_t) along the space's episode: the
    agent's own (`episode`), or a dataset's trajectory."""
    positions, obs, actions = agent.space.episode(agent, seed)
    phi = features.state_action(agent.config, agent.state.params, jnp.asarray(obs), actions=actions)
    return positions, embed(phi, seed)


def position_colours(positions: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(N, 3) RGB: red grows down the maze's rows, blue across its columns."""
    rows, cols = shape
    return np.c_[positions[:, 0] / rows, np.full(len(positions), 0.35), positions[:, 1] / cols].clip(0, 1)
