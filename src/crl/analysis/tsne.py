"""The t-SNE views of the CRL paper's Fig. 16: phi(s, a = 0) at points spread over a maze's free space,
embedded in 2-D by scikit-learn's t-SNE and coloured by where each point is, so a representation that
has learnt the maze keeps neighbours (and rooms) together."""

from __future__ import annotations

import numpy as np

from crl.analysis import features
from crl.analysis.runs import AnalyzedAgent


def embed(x: np.ndarray, seed: int = 0) -> np.ndarray:
    """(N, 2) t-SNE embedding of the rows of x."""
    from sklearn.manifold import TSNE

    perplexity = min(30.0, (len(x) - 1) / 3)
    return TSNE(2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(x.astype(np.float64))


def tsne_agent(agent: AnalyzedAgent, per_cell: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(positions (N, 2), embedding (N, 2)) of the agent's phi(s, a = 0) over the maze's grid points."""
    positions = features.grid_points(agent.env, per_cell)
    obs = features.observations(agent.env, positions)
    phi = features.state_action(agent.config, agent.params, obs, agent.env.action_dim)
    return positions, embed(phi, seed)


def position_colours(positions: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(N, 3) RGB: red grows down the maze's rows, blue across its columns."""
    rows, cols = shape
    return np.c_[positions[:, 0] / rows, np.full(len(positions), 0.35), positions[:, 1] / cols].clip(0, 1)
