"""OGBench's maze datasets (pointmaze, antmaze, humanoidmaze), made locally with the environment's own
oracle and, for the ant and the humanoid, a trained locomotion expert (`crl expert train`).

The published recipe: at every step the agent is commanded toward the environment's oracle subgoal (the
next maze cell on a shortest path to the goal, from `get_oracle_subgoal`) as a unit direction. The point
moves along it; the ant and humanoid experts map (their observation without its xy, the direction) to an
action, deterministically. Gaussian noise (std 0.5 point, 0.2 ant and humanoid) is added and the action
clipped to [-1, 1]. `navigate` episodes start in a random free cell and are handed a new random goal (a
cell that is not a straight corridor) each time they reach one; `stitch` episodes head for a cell exactly
4 steps away and stay there; `explore` episodes follow a random direction redrawn every 10 steps with
noise 1.0. Episode counts and lengths follow the published commands; the validation file holds a tenth as
many episodes.

OGBench's environments draw their noise from NumPy's global generator, so each episode seeds it
from (seed, split, episode index): an episode's content does not depend on which episodes were
generated before it, or in which process.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import gymnasium
import numpy as np
import ogbench.locomaze  # noqa: F401  (registers the environments)

from crl.errors import CrlError

MOVES = ((-1, 0), (0, -1), (1, 0), (0, 1))
STITCH_CELLS_AWAY = 4


@dataclass(frozen=True)
class MazeRecipe:
    robot: str  # 'point', 'ant' or 'humanoid'
    maze: str
    kind: str  # 'navigate', 'stitch' or 'explore'
    episodes: int
    episode_steps: int
    noise: float = 0.5

    @property
    def env_id(self) -> str:
        return f"{self.robot}maze-{self.maze}-v0"

    @property
    def experts(self) -> tuple[str, ...]:
        """The locomotion expert that turns directions into actions (`crl expert train NAME`), if any."""
        return () if self.robot == "point" else (self.robot,)


EXPLORE_EVERY = 10  # steps between the explore datasets' random directions


def _recipes() -> dict[str, MazeRecipe]:
    """OGBench's data_gen_scripts/commands.sh: (episodes, steps) per maze and kind."""
    sizes = {  # (robot, kind): {maze: (episodes, steps)}
        ("point", "navigate"): {"medium": (1000, 1001), "large": (1000, 1001), "giant": (500, 2001),
                                "teleport": (1000, 1001)},
        ("point", "stitch"): dict.fromkeys(("medium", "large", "giant", "teleport"), (5000, 201)),
        ("ant", "navigate"): {"medium": (1000, 1001), "large": (1000, 1001), "giant": (500, 2001),
                              "teleport": (1000, 1001)},
        ("ant", "stitch"): dict.fromkeys(("medium", "large", "giant", "teleport"), (5000, 201)),
        ("ant", "explore"): dict.fromkeys(("medium", "large", "teleport"), (10000, 501)),
        ("humanoid", "navigate"): {"medium": (1000, 2001), "large": (1000, 2001), "giant": (1000, 4001)},
        ("humanoid", "stitch"): {"medium": (5000, 401), "large": (5000, 401), "giant": (10000, 401)},
    }  # fmt: skip
    recipes = {}
    for (robot, kind), mazes in sizes.items():
        noise = 0.5 if robot == "point" else 1.0 if kind == "explore" else 0.2
        for maze, (episodes, steps) in mazes.items():
            recipes[f"{robot}maze-{maze}-{kind}-v0"] = MazeRecipe(robot, maze, kind, episodes, steps, noise)
    return recipes


RECIPES: dict[str, MazeRecipe] = _recipes()


def empty_episode(steps: int, ob_dim: int, action_dim: int, model) -> dict[str, np.ndarray]:
    """An episode's arrays in OGBench's file layout, to fill step by step."""
    return {
        "observations": np.empty((steps, ob_dim), np.float32),
        "actions": np.empty((steps, action_dim), np.float32),
        "terminals": np.zeros(steps, bool),
        "qpos": np.empty((steps, model.nq), np.float32),
        "qvel": np.empty((steps, model.nv), np.float32),
    }


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


Expert = Callable[[np.ndarray, np.ndarray], np.ndarray]  # (observation, unit direction) -> action


def load_policy(run_dir: Path, env: str, name: str) -> Callable[[np.ndarray], np.ndarray]:
    """The deterministic policy of the expert run in `run_dir` (`crl expert train NAME`, trained on `env`):
    input vector -> action."""
    import jax

    from crl.agents import sac
    from crl.config import SACConfig
    from crl.train import latest_agent

    config, state = latest_agent(run_dir)
    if not isinstance(config.agent, SACConfig) or config.env != env:
        raise CrlError(
            f"{run_dir} is not a {name} expert (it trained {config.env or config.dataset}); train one with "
            f"`crl expert train {name}`"
        )
    action_dim = state.params["actor"]["mean"]["bias"].shape[-1]
    act = jax.jit(lambda s, x: sac.act(config.agent, action_dim, s, x[None])[0])
    return lambda x: np.asarray(act(state, np.asarray(x, np.float32)))


def load_expert(run_dir: Path, recipe: MazeRecipe) -> Expert:
    """The expert, fed as OGBench feeds it: the maze observation without its xy, then the direction."""
    policy = load_policy(run_dir, f"online-{recipe.robot}-xy", recipe.robot)
    return lambda ob, direction: policy(np.r_[ob[2:], direction])


class OracleSubgoals:
    """The maze's oracle subgoal (`get_oracle_subgoal`: the next cell centre on a shortest path), cached:
    its answer depends only on the two cells, so the same result with fewer breadth-first searches."""

    def __init__(self, maze):
        self.maze, self._cache = maze, {}

    def __call__(self, xy: np.ndarray, goal_xy: np.ndarray) -> np.ndarray:
        key = (self.maze.xy_to_ij(xy), self.maze.xy_to_ij(goal_xy))
        if key not in self._cache:
            self._cache[key] = self.maze.get_oracle_subgoal(xy, goal_xy)[0]
        return self._cache[key]


class MazeGenerator:
    """Rolls out the noisy oracle (and expert) in one environment instance; `episode(index)` is
    deterministic."""

    def __init__(self, recipe: MazeRecipe, seed: int, expert: Expert | None = None):
        if (expert is None) != (not recipe.experts):
            raise ValueError(f"{recipe.env_id} needs {'an' if recipe.experts else 'no'} expert")
        self.recipe, self.seed, self.expert = recipe, seed, expert
        self.env = gymnasium.make(
            recipe.env_id, terminate_at_goal=False, max_episode_steps=recipe.episode_steps
        )
        self.maze = self.env.unwrapped
        self.all_cells = free_cells(self.maze.maze_map)
        self.goal_cells = goal_cells(self.maze.maze_map)
        self.subgoal = OracleSubgoals(self.maze)

    def direction(self, t: int, previous: np.ndarray | None) -> np.ndarray:
        """The unit direction commanded at step t: toward the oracle's subgoal, or (explore) a random one
        redrawn every EXPLORE_EVERY steps."""
        if self.recipe.kind == "explore":
            if t % EXPLORE_EVERY:
                return previous
            direction = np.random.randn(2)
            return direction / np.linalg.norm(direction)
        xy = self.maze.get_xy()
        direction = self.subgoal(xy, self.maze.cur_goal_xy) - xy
        return direction / (np.linalg.norm(direction) + 1e-6)

    def episode(self, split: int, index: int) -> tuple[dict[str, np.ndarray], int]:
        """One episode of `episode_steps` entries and the goals the oracle reached in it (stitch: 0 or 1;
        explore: 0); split 0 is training, 1 is validation."""
        np.random.seed([self.seed, split, index])
        rng = np.random  # OGBench's environments draw from the global generator too
        init_ij = self.all_cells[rng.randint(len(self.all_cells))]
        if self.recipe.kind == "stitch":
            near = cells_at_distance(self.maze.maze_map, init_ij, STITCH_CELLS_AWAY)
            goal_ij = near[rng.randint(len(near))] if near else init_ij
        else:
            goal_ij = self.goal_cells[rng.randint(len(self.goal_cells))]
        ob, _ = self.env.reset(
            seed=int(rng.randint(2**31)), options=dict(task_info=dict(init_ij=init_ij, goal_ij=goal_ij))
        )
        steps, action_dim = self.recipe.episode_steps, self.env.action_space.shape[0]
        out = empty_episode(steps, ob.shape[0], action_dim, self.maze.model)
        reached, direction = 0, None
        for t in range(steps):
            direction = self.direction(t, direction)
            action = direction if self.expert is None else self.expert(ob, direction)
            action = np.clip(action + rng.normal(0, self.recipe.noise, action_dim), -1, 1)
            next_ob, _, _, _, info = self.env.step(action)
            out["observations"][t], out["actions"][t] = ob, action
            out["qpos"][t], out["qvel"][t] = info["prev_qpos"], info["prev_qvel"]
            if info["success"] and self.recipe.kind == "navigate":
                reached += 1
                self.maze.set_goal(goal_ij=self.goal_cells[rng.randint(len(self.goal_cells))])
            elif info["success"] and self.recipe.kind == "stitch":
                reached = 1
            ob = next_ob
        out["terminals"][-1] = True
        return out, reached
