"""OGBench's pointmaze datasets, made locally with the environment's own oracle.

The published recipe: at every step the agent moves toward the environment's oracle subgoal
(the next maze cell on a shortest path to the goal, from `get_oracle_subgoal`), plus Gaussian
noise of std 0.5, clipped to [-1, 1]. `navigate` episodes start in a random free cell and are
handed a new random goal (a cell that is not a straight corridor) each time they reach one;
`stitch` episodes head for a cell exactly 4 steps away and stay there. Episode counts and lengths
follow the published commands; the validation file holds a tenth as many episodes.

OGBench's environments draw their noise from NumPy's global generator, so each episode seeds it
from (seed, split, episode index): an episode's content does not depend on which episodes were
generated before it, or in which process.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import gymnasium
import numpy as np
import ogbench.locomaze  # noqa: F401  (registers the environments)

MOVES = ((-1, 0), (0, -1), (1, 0), (0, 1))
STITCH_CELLS_AWAY = 4


@dataclass(frozen=True)
class PointmazeRecipe:
    maze: str
    kind: str  # 'navigate' or 'stitch'
    episodes: int
    episode_steps: int
    noise: float = 0.5

    @property
    def env_id(self) -> str:
        return f"pointmaze-{self.maze}-v0"


def _recipes() -> dict[str, PointmazeRecipe]:
    recipes = {}
    for maze in ("medium", "large", "giant", "teleport"):
        giant = maze == "giant"
        recipes[f"pointmaze-{maze}-navigate-v0"] = PointmazeRecipe(
            maze, "navigate", episodes=500 if giant else 1000, episode_steps=2001 if giant else 1001
        )
        recipes[f"pointmaze-{maze}-stitch-v0"] = PointmazeRecipe(
            maze, "stitch", episodes=5000, episode_steps=201
        )
    return recipes


RECIPES: dict[str, PointmazeRecipe] = _recipes()


def free_cells(maze_map: np.ndarray) -> list[tuple[int, int]]:
    return [(int(i), int(j)) for i, j in zip(*np.nonzero(maze_map == 0), strict=True)]


def goal_cells(maze_map: np.ndarray) -> list[tuple[int, int]]:
    """Free cells that are not straight corridors (walls on both sides, open ends): the navigate goals."""
    cells = []
    for i, j in free_cells(maze_map):
        up, down, left, right = maze_map[i - 1, j], maze_map[i + 1, j], maze_map[i, j - 1], maze_map[i, j + 1]
        vertical_corridor = up == 0 and down == 0 and left == 1 and right == 1
        horizontal_corridor = left == 0 and right == 0 and up == 1 and down == 1
        if not (vertical_corridor or horizontal_corridor):
            cells.append((i, j))
    return cells


def cells_at_distance(maze_map: np.ndarray, start: tuple[int, int], steps: int) -> list[tuple[int, int]]:
    """Free cells exactly `steps` moves from `start` by breadth-first search, in discovery order."""
    dist = {start: 0}
    queue, found = deque([start]), []
    while queue:
        i, j = queue.popleft()
        for di, dj in MOVES:
            nxt = (i + di, j + dj)
            inside = 0 <= nxt[0] < maze_map.shape[0] and 0 <= nxt[1] < maze_map.shape[1]
            if inside and maze_map[nxt] == 0 and nxt not in dist:
                dist[nxt] = dist[(i, j)] + 1
                queue.append(nxt)
                if dist[nxt] == steps:
                    found.append(nxt)
    return found


class PointmazeGenerator:
    """Rolls out the noisy oracle in one environment instance; `episode(index)` is deterministic."""

    def __init__(self, recipe: PointmazeRecipe, seed: int):
        self.recipe, self.seed = recipe, seed
        self.env = gymnasium.make(
            recipe.env_id, terminate_at_goal=False, max_episode_steps=recipe.episode_steps
        )
        self.maze = self.env.unwrapped
        self.all_cells = free_cells(self.maze.maze_map)
        self.goal_cells = goal_cells(self.maze.maze_map)
        self._subgoals: dict = {}

    def _subgoal(self, xy: np.ndarray, goal_xy: np.ndarray) -> np.ndarray:
        # The oracle's answer depends only on the two cells, so it is cached (same result, fewer BFS runs).
        key = (self.maze.xy_to_ij(xy), self.maze.xy_to_ij(goal_xy))
        if key not in self._subgoals:
            self._subgoals[key] = self.maze.get_oracle_subgoal(xy, goal_xy)[0]
        return self._subgoals[key]

    def episode(self, split: int, index: int) -> tuple[dict[str, np.ndarray], int]:
        """One episode of `episode_steps` entries and the goals the oracle reached in it (stitch: 0 or 1);
        split 0 is training, 1 is validation."""
        np.random.seed([self.seed, split, index])
        rng = np.random  # OGBench's environments draw from the global generator too
        init_ij = self.all_cells[rng.randint(len(self.all_cells))]
        if self.recipe.kind == "navigate":
            goal_ij = self.goal_cells[rng.randint(len(self.goal_cells))]
        else:
            near = cells_at_distance(self.maze.maze_map, init_ij, STITCH_CELLS_AWAY)
            goal_ij = near[rng.randint(len(near))] if near else init_ij
        ob, _ = self.env.reset(
            seed=int(rng.randint(2**31)), options=dict(task_info=dict(init_ij=init_ij, goal_ij=goal_ij))
        )
        steps = self.recipe.episode_steps
        out = {
            "observations": np.empty((steps, ob.shape[0]), np.float32),
            "actions": np.empty((steps, 2), np.float32),
            "terminals": np.zeros(steps, bool),
            "qpos": np.empty((steps, self.maze.model.nq), np.float32),
            "qvel": np.empty((steps, self.maze.model.nv), np.float32),
        }
        reached = 0
        for t in range(steps):
            xy = self.maze.get_xy()
            direction = self._subgoal(xy, self.maze.cur_goal_xy) - xy
            direction = direction / (np.linalg.norm(direction) + 1e-6)
            action = np.clip(direction + rng.normal(0, self.recipe.noise, 2), -1, 1)
            next_ob, _, _, _, info = self.env.step(action)
            out["observations"][t], out["actions"][t] = ob, action
            out["qpos"][t], out["qvel"][t] = info["prev_qpos"], info["prev_qvel"]
            if info["success"] and self.recipe.kind == "navigate":
                reached += 1
                self.maze.set_goal(goal_ij=self.goal_cells[rng.randint(len(self.goal_cells))])
            elif info["success"]:
                reached = 1
            ob = next_ob
        out["terminals"][-1] = True
        return out, reached
