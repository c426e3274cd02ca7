"""The linear probe of the CRL paper's F.1 (Fig. 8): how well a linear regression on an agent's features of
(s, g) predicts the shortest-path distance from s to g (BFS through the maze's free cells, in cells; not
the straight-line distance, which walls lengthen). Pairs are uniform over the maze's free space (over a
dataset's states, for an OGBench maze dataset), 80% to fit and 20% to test; errors are mean squared
errors, also as a fraction of the test distances' variance (1: no better than predicting their mean)."""

from __future__ import annotations

import numpy as np

from crl.analysis import features
from crl.analysis.runs import AnalyzedAgent

TEST_FRACTION = 0.2


def linear_probe(x: np.ndarray, y: np.ndarray, seed: int = 0) -> dict[str, float]:
    """Fit y ~ x w + b by least squares on a random 80% of the rows; the errors on both parts."""
    rows = np.random.default_rng(seed).permutation(len(y))
    n_test = int(len(y) * TEST_FRACTION)
    test, fit = rows[:n_test], rows[n_test:]
    design = np.c_[x.astype(np.float64), np.ones(len(y))]
    w, *_ = np.linalg.lstsq(design[fit], y[fit], rcond=None)

    def mse(part):
        return float(np.mean((design[part] @ w - y[part]) ** 2))

    return {"train_mse": mse(fit), "test_mse": mse(test), "test_variance": float(np.var(y[test]))}


def probe_agent(agent: AnalyzedAgent, pairs: int, seed: int = 0) -> dict[str, float]:
    """The probe on `pairs` (s, g) pairs of the agent's maze (the same pairs for every agent of a seed)."""
    space = agent.space
    starts, goals = space.points(pairs, seed), space.points(pairs, seed + 1)
    distance = np.asarray(space.maze.shortest_path(starts, goals), np.float64)
    obs, goal_obs = space.observe(starts), space.observe(goals)
    x = features.pair_features(agent.config, agent.state.params, obs, goal_obs, space.action_dim)
    result = linear_probe(x, distance, seed)
    return {"agent": agent.label, **result, "relative_test_mse": result["test_mse"] / result["test_variance"]}
