"""OGBench's antsoccer datasets, made locally with two trained experts (`crl expert train ant` and
`crl expert train antball`), as OGBench's published recipe drives them.

The ant expert walks toward a point, given the unit direction to it (through the maze's oracle subgoal in
the medium maze); the antball expert dribbles the ball toward a point, given the ball's and the point's
offsets (in the arena a point over 10 m from the ball is brought to 10 m along the line, the range the
expert was trained on; in the maze, the oracle's subgoal from the ball). Both act deterministically;
Gaussian noise (0.2) is added and the action clipped.

- navigate: the ant, the ball and the goal start in three different random cells. The ant walks to the
  ball while it is more than 2 m away, and otherwise dribbles it to the goal; each goal reached is
  replaced by a random cell. An ant that has stayed within 2 m of each of its previous 150 positions
  walks to a random cell's centre first (until within 0.5 m of it).
- stitch: half the episodes walk to the goal (the ball elsewhere), half dribble a ball that starts in
  the ant's cell. An episode's success (the manifest's oracle rate) is its own task's: the walking ant
  at the goal, or the dribbled ball there.

Each episode seeds NumPy's global generator (which OGBench's environment also draws from) from (seed,
split, episode index), as the other generators do.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import gymnasium
import numpy as np
import ogbench.locomaze  # noqa: F401  (registers the environments)

from crl.data.locomaze import Expert, OracleSubgoals, empty_episode, free_cells, load_policy

STUCK_STEPS, STUCK_RANGE, NEAR_BALL, DRIBBLE_RANGE, REACHED = 150, 2.0, 2.0, 10.0, 0.5


@dataclass(frozen=True)
class SoccerRecipe:
    maze: str  # 'arena' or 'medium'
    kind: str  # 'navigate' or 'stitch'
    episodes: int
    episode_steps: int
    noise: float = 0.2
    experts = ("ant", "antball")

    @property
    def env_id(self) -> str:
        return f"antsoccer-{self.maze}-v0"


RECIPES: dict[str, SoccerRecipe] = {  # OGBench's data_gen_scripts/commands.sh
    f"antsoccer-{maze}-{kind}-v0": SoccerRecipe(maze, kind, episodes, steps)
    for maze, kind, episodes, steps in (
        ("arena", "navigate", 1000, 1001),
        ("medium", "navigate", 4000, 1001),
        ("arena", "stitch", 5000, 201),
        ("medium", "stitch", 8000, 501),
    )
}


def load_experts(directories: dict[str, Path]) -> dict[str, Expert]:
    """The walking and dribbling policies, each fed the observation part its training task showed it."""
    walk = load_policy(directories["ant"], "online-ant-xy", "ant")
    dribble = load_policy(directories["antball"], "online-antball", "antball")
    return {
        # the ant's joints and velocities (no xy, no ball), then the direction
        "ant": lambda ob, direction: walk(np.r_[ob[2:15], ob[22:36], direction]),
        # both bodies' joints and velocities (no xy), then ball - ant and target - ball
        "antball": lambda ob, offsets: dribble(np.r_[ob[2:15], ob[17:], offsets]),
    }


def _stuck(observations: np.ndarray, t: int, ob: np.ndarray) -> bool:
    """The ant is within 2 m of every position it held over the STUCK_STEPS steps before step t
    (OGBench's test); `ob` follows step t."""
    previous = observations[t - STUCK_STEPS : t, :2]
    return bool(np.linalg.norm(previous - ob[:2], axis=1).max() <= STUCK_RANGE)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / (np.linalg.norm(v) + 1e-6)


class SoccerGenerator:
    def __init__(self, recipe: SoccerRecipe, seed: int, experts: dict[str, Expert]):
        self.recipe, self.seed, self.experts = recipe, seed, experts
        self.env = gymnasium.make(
            recipe.env_id, terminate_at_goal=False, max_episode_steps=recipe.episode_steps
        )
        self.maze = self.env.unwrapped
        self.cells = free_cells(self.maze.maze_map)
        self.subgoal = OracleSubgoals(self.maze)

    def walk(self, ob: np.ndarray, target: np.ndarray) -> np.ndarray:
        if self.recipe.maze != "arena":
            target = self.subgoal(ob[:2], target)
        return self.experts["ant"](ob, _unit(target - ob[:2]))

    def dribble(self, ob: np.ndarray, agent: np.ndarray, ball: np.ndarray, goal: np.ndarray) -> np.ndarray:
        if self.recipe.maze == "arena":
            if np.linalg.norm(goal - ball) > DRIBBLE_RANGE:
                goal = ball + DRIBBLE_RANGE * (goal - ball) / np.linalg.norm(goal - ball)
        else:
            goal = self.subgoal(ball, goal)
        return self.experts["antball"](ob, np.r_[ball - agent, goal - ball])

    def _ant_at(self, goal: np.ndarray, ob: np.ndarray) -> bool:
        """The ant within the goal's tolerance (the environment's own success asks it of the ball)."""
        return bool(np.linalg.norm(ob[:2] - goal) <= self.maze._goal_tol)

    def episode(self, split: int, index: int) -> tuple[dict[str, np.ndarray], int]:
        """One episode and the goals it reached: navigate, the balls brought to a goal; stitch, 1 if the
        episode did its task (the ball brought to the goal, or the walking ant at it), else 0."""
        np.random.seed([self.seed, split, index])
        rng = np.random
        dribbling = self.recipe.kind == "stitch" and rng.randint(2) == 1
        agent_ij, ball_ij, goal_ij = (self.cells[k] for k in rng.choice(len(self.cells), 3, replace=False))
        task = dict(agent_init_ij=agent_ij, ball_init_ij=agent_ij if dribbling else ball_ij, goal_ij=goal_ij)
        ob, _ = self.env.reset(seed=int(rng.randint(2**31)), options=dict(task_info=task))
        steps, action_dim = self.recipe.episode_steps, self.env.action_space.shape[0]
        out = empty_episode(steps, ob.shape[0], action_dim, self.maze.model)
        reached, detour = 0, None  # detour: where a stuck ant walks first
        for t in range(steps):
            agent, ball = (np.asarray(xy) for xy in self.maze.get_agent_ball_xy())
            goal = np.asarray(self.maze.cur_goal_xy)
            if self.recipe.kind == "stitch":
                action = self.dribble(ob, agent, ball, goal) if dribbling else self.walk(ob, goal)
            elif detour is not None:
                action = self.walk(ob, detour)
            elif np.linalg.norm(agent - ball) > NEAR_BALL:
                action = self.walk(ob, ball)
            else:
                action = self.dribble(ob, agent, ball, goal)
            action = np.clip(action + rng.normal(0, self.recipe.noise, action_dim), -1, 1)
            next_ob, _, _, _, info = self.env.step(action)
            out["observations"][t], out["actions"][t] = ob, action
            out["qpos"][t], out["qvel"][t] = info["prev_qpos"], info["prev_qvel"]
            if detour is not None and np.linalg.norm(detour - next_ob[:2]) <= REACHED:
                detour = None
            if self.recipe.kind == "navigate":
                if info["success"]:
                    reached += 1
                    self.maze.set_goal(self.cells[rng.randint(len(self.cells))])
                if t > STUCK_STEPS and detour is None and _stuck(out["observations"], t, next_ob):
                    detour = np.asarray(self.maze.ij_to_xy(self.cells[rng.randint(len(self.cells))]))
            elif (dribbling and info["success"]) or (not dribbling and self._ant_at(goal, next_ob)):
                reached = 1
            ob = next_ob
        out["terminals"][-1] = True
        return out, reached
