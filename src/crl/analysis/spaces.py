"""Where the analyses draw their states from: a maze whose free space they cover, with shortest paths
between its cells.

- `OnlineMaze`: crl's point mazes (state or image). Points are anywhere in the free space; what the agent
  sees there is computed (the position, or the maze's image of it); an episode is the agent's own policy.
- `DatasetMaze`: an OGBench maze dataset (pointmaze, antmaze, ...). The maze is OGBench's map, each cell
  one grid cell; points are positions of the dataset's own states, which are what the agent sees (an
  ant's posture included); an episode is one of the dataset's validation trajectories.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from crl.analysis import features
from crl.envs.point import PointMaze
from crl.errors import CrlError


@dataclass(frozen=True)
class OnlineMaze:
    env: PointMaze

    @property
    def maze(self) -> PointMaze:
        return self.env

    @property
    def obs_shape(self) -> tuple[int, ...]:
        return self.env.obs_shape

    @property
    def action_dim(self) -> int:
        return self.env.action_dim

    def points(self, n: int, seed: int) -> np.ndarray:
        return features.random_points(self.env, n, seed)

    def grid(self, per_cell: int) -> np.ndarray:
        return features.grid_points(self.env, per_cell)

    def observe(self, positions: np.ndarray) -> jax.Array:
        return features.observations(self.env, positions)

    def episode(self, agent, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        from crl.analysis.tsne import episode

        return episode(agent, seed)


@dataclass(frozen=True)
class DatasetMaze:
    """An OGBench maze dataset's states on its maze's grid: cell (i, j) of OGBench's map is the grid's cell
    (i, j), so a state at (x, y) sits at (row, col) = ((y + dy) / unit + 1/2, (x + dx) / unit + 1/2), with
    OGBench's cell size `unit` and map offset (dx, dy)."""

    dataset: str
    maze: PointMaze
    observations: np.ndarray = field(repr=False)  # the training split's states
    positions: np.ndarray = field(repr=False)  # (N, 2) their grid positions
    val: dict = field(repr=False)
    action_dim: int = 0
    unit: float = 1.0  # OGBench's cell size and map offset: x, y -> grid (row, col)
    offset: tuple[float, float] = (0.0, 0.0)

    @classmethod
    def load(cls, dataset: str, data_dir: Path | None) -> DatasetMaze:
        import gymnasium

        from crl.data import store
        from crl.data.names import data_dir as default_dir

        data = store.load(dataset, default_dir(data_dir), progress=False)
        if len(data.obs_shape) != 1:
            raise CrlError(f"{dataset} holds images; the maze analyses read state datasets")
        env = gymnasium.make(data.env_id).unwrapped
        if not hasattr(env, "maze_map"):
            raise CrlError(f"{dataset} is not a maze dataset: the analyses need a maze's shortest paths")
        layout = tuple("".join("#" if w else "." for w in row) for row in np.asarray(env.maze_map))
        unit, offset = float(env._maze_unit), (float(env._offset_x), float(env._offset_y))
        obs = data.train["observations"]
        return cls(dataset, PointMaze(data.env_id, layout), obs, _to_grid(obs, unit, offset), data.val,
                   data.action_dim, unit, offset)  # fmt: skip

    @property
    def obs_shape(self) -> tuple[int, ...]:
        return self.observations.shape[1:]

    @cached_property
    def _tree(self):
        from scipy.spatial import cKDTree

        return cKDTree(self.positions)

    def points(self, n: int, seed: int) -> np.ndarray:
        """Positions of `n` states drawn uniformly from the dataset."""
        return self.positions[np.random.default_rng(seed).integers(len(self.positions), size=n)]

    def grid(self, per_cell: int) -> np.ndarray:
        """The dataset states nearest to a per_cell x per_cell grid in every free cell, row-major by cell."""
        return self.positions[self._tree.query(features.grid_points(self.maze, per_cell))[1]]

    def observe(self, positions: np.ndarray) -> jax.Array:
        """The dataset's state at each position (the nearest one: these positions are the states')."""
        return jnp.asarray(self.observations[self._tree.query(positions)[1]])

    def episode(self, agent, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The validation split's trajectory number `seed`: (positions, observations, actions)."""
        ends = np.flatnonzero(self.val["terminals"])
        if not len(ends):
            raise CrlError(f"{self.dataset}'s validation split holds no whole trajectory")
        k = seed % len(ends)
        first = 0 if k == 0 else ends[k - 1] + 1
        obs, actions = self.val["observations"][first : ends[k] + 1], self.val["actions"][first : ends[k] + 1]
        return self.positions_of(obs), obs, actions

    def positions_of(self, obs: np.ndarray) -> np.ndarray:
        return _to_grid(obs, self.unit, self.offset)


def _to_grid(obs: np.ndarray, unit: float, offset: tuple[float, float]) -> np.ndarray:
    """Grid (row, col) of states whose first two coordinates are OGBench's (x, y)."""
    (dx, dy), x, y = offset, obs[:, 0], obs[:, 1]
    return np.c_[(y + dy) / unit + 0.5, (x + dx) / unit + 0.5].astype(np.float32)
