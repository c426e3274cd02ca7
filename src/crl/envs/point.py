"""The CRL paper's 2D point navigation tasks, as pure JAX functions (reset and step under jit and vmap).

Behaviour follows the original point environment of Eysenbach et al. (the CRL paper's code base):
- the state is a position (row, col) in a grid of unit cells, some of them walls; positions outside
  [0, rows] x [0, cols] count as walls;
- an action a in [-1, 1]^2 gets N(0, 0.01^2) noise, is clipped to the box, and moves the point in 10
  substeps of 0.1 a, one axis at a time; a substep that would end inside a wall is skipped;
- start and goal are each a uniformly chosen free cell plus U[0, 1)^2 (the goal drawn first);
- the reward is 1 while ||position - goal|| < 2 and an episode succeeds if it is ever 1; episodes
  never end early and last 100 steps on the 11x11 maps, 50 on the others.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from functools import cached_property

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

SUBSTEPS = 10
ACTION_NOISE = 0.01
SUCCESS_RADIUS = 2.0

# '#' is a wall, '.' a free cell. Row 0 is the first line; a position's first coordinate is its row.
MAPS: dict[str, tuple[str, ...]] = {
    "small": ("....", "....", "....", "...."),
    "cross": (".......", "...#...", "...#...", ".#####.", "...#...", "...#...", "......."),
    "fourrooms": (
        ".....#.....",
        ".....#.....",
        "...........",
        ".....#.....",
        ".....#.....",
        "#.####.....",
        ".....###.##",
        ".....#.....",
        ".....#.....",
        "...........",
        ".....#.....",
    ),
    "u": ("...", ".#.", ".#.", ".#.", "##.", ".#.", ".#.", ".#.", "..."),
    "spiral11x11": (
        "###########",
        "#..........",
        "#.########.",
        "#.#......#.",
        "#.#.####.#.",
        "#.#.#..#.#.",
        "#.#.##.#.#.",
        "#.#....#.#.",
        "#.######.#.",
        "#........#.",
        "##########.",
    ),
    "maze11x11": (
        ".#...#...#.",
        ".#.#.#.#.#.",
        ".#.#.#.#.#.",
        ".#.#.#.#.#.",
        "...#...#.#.",
        "########.#.",
        "###...#..#.",
        "###.#.#.##.",
        "....#...##.",
        ".#########.",
        "...........",
    ),
    # Not in the original code: App. F.1's nine rooms, reconstructed from its description (Fig. 8a):
    # 3 x 3 rooms of 3 x 3 cells, one-cell walls, and a one-cell door in the middle of every wall
    # between neighbouring rooms.
    "ninerooms": (
        "...#...#...",
        "...........",
        "...#...#...",
        "#.###.###.#",
        "...#...#...",
        "...........",
        "...#...#...",
        "#.###.###.#",
        "...#...#...",
        "...........",
        "...#...#...",
    ),
}


class PointState(flax.struct.PyTreeNode):
    position: jax.Array  # (2,) float32: (row, col)
    goal: jax.Array  # (2,) float32
    succeeded: jax.Array  # bool: the reward has been 1 at some step of this episode


@dataclass(frozen=True)
class PointMaze:
    """One map; hashable, so jitted functions take it as a static argument."""

    name: str
    layout: tuple[str, ...]

    action_dim = 2
    success_radius = SUCCESS_RADIUS

    @property
    def obs_shape(self) -> tuple[int, ...]:
        return (2,)

    @property
    def goal_shape(self) -> tuple[int, ...]:
        return self.obs_shape  # goals are observations of the goal position

    @property
    def episode_length(self) -> int:
        return 100 if "11x11" in self.name else 50

    @cached_property
    def walls(self) -> np.ndarray:
        return np.array([[c == "#" for c in row] for row in self.layout], dtype=bool)

    @cached_property
    def free_cells(self) -> np.ndarray:
        return np.argwhere(~self.walls).astype(np.float32)

    def blocked(self, position: jax.Array) -> jax.Array:
        rows, cols = self.walls.shape
        outside = jnp.any(position < 0) | (position[0] > rows) | (position[1] > cols)
        i = jnp.clip(jnp.floor(position[0]).astype(jnp.int32), 0, rows - 1)
        j = jnp.clip(jnp.floor(position[1]).astype(jnp.int32), 0, cols - 1)
        return outside | jnp.asarray(self.walls)[i, j]

    def random_position(self, key: jax.Array) -> jax.Array:
        k_cell, k_offset = jax.random.split(key)
        cell = jax.random.randint(k_cell, (), 0, len(self.free_cells))
        return jnp.asarray(self.free_cells)[cell] + jax.random.uniform(k_offset, (2,))

    def reset(self, key: jax.Array) -> PointState:
        k_goal, k_start = jax.random.split(key)
        goal = self.random_position(k_goal)
        position = self.random_position(k_start)
        return PointState(position, goal, self.reached(position, goal))

    def step(self, state: PointState, action: jax.Array, key: jax.Array) -> PointState:
        action = jnp.clip(action + ACTION_NOISE * jax.random.normal(key, (2,)), -1.0, 1.0)
        position = state.position
        for _ in range(SUBSTEPS):
            for axis in range(2):
                moved = position.at[axis].add(action[axis] / SUBSTEPS)
                position = jnp.where(self.blocked(moved), position, moved)
        succeeded = state.succeeded | self.reached(position, state.goal)
        return PointState(position, state.goal, succeeded)

    @staticmethod
    def reached(position: jax.Array, goal: jax.Array) -> jax.Array:
        return jnp.linalg.norm(position - goal) < SUCCESS_RADIUS

    def observation(self, state: PointState) -> jax.Array:
        return state.position

    def goal(self, state: PointState) -> jax.Array:
        return state.goal

    def coords(self, state: PointState) -> jax.Array:
        """The goal-space coordinates of a state, what an image of it shows as numbers: its position."""
        return state.position

    # --- shortest paths (for the analysis tools) -----------------------------------------------------

    @cached_property
    def cell_distances(self) -> np.ndarray:
        """(cells, cells) BFS steps between grid cells (4-connected, through free cells); -1 if unreachable
        or either cell is a wall. Cells are numbered row-major."""
        rows, cols = self.walls.shape
        out = np.full((rows * cols, rows * cols), -1, dtype=np.int32)
        for source in zip(*np.nonzero(~self.walls), strict=True):
            out[source[0] * cols + source[1]] = self._bfs(source).reshape(-1)
        return out

    def _bfs(self, source: tuple[int, int]) -> np.ndarray:
        rows, cols = self.walls.shape
        dist = np.full((rows, cols), -1, dtype=np.int32)
        dist[source] = 0
        queue = deque([source])
        while queue:
            i, j = queue.popleft()
            for di, dj in ((1, 0), (-1, 0), (0, 1), (0, -1)):
                a, b = i + di, j + dj
                if 0 <= a < rows and 0 <= b < cols and not self.walls[a, b] and dist[a, b] < 0:
                    dist[a, b] = dist[i, j] + 1
                    queue.append((a, b))
        return dist

    def shortest_path(self, a: jax.Array, b: jax.Array) -> jax.Array:
        """Shortest-path distance in cells between the cells holding positions a and b (..., 2)."""
        rows, cols = self.walls.shape

        def cell(p):
            i = jnp.clip(jnp.floor(p[..., 0]).astype(jnp.int32), 0, rows - 1)
            return i * cols + jnp.clip(jnp.floor(p[..., 1]).astype(jnp.int32), 0, cols - 1)

        return jnp.asarray(self.cell_distances)[cell(a), cell(b)]


def point_maze(name: str) -> PointMaze:
    return PointMaze(name, MAPS[name])
