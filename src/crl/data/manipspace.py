"""OGBench's manipulation datasets (cube, scene, puzzle), made locally with the scripted oracles that
the ogbench package ships.

The published recipe: `play` data follows the non-Markovian plan oracles (noise 0.1, smoothing
0.5); `noisy` data follows the closed-loop Markov oracles (min action norm 0.4) with per-episode
Gaussian noise of scale xi ~ U(0, 0.1) (x3 on the yaw, x10 on the gripper) and a share of uniformly
random actions (0.1 for cube and scene, 0.2 for puzzle). Whenever the oracle finishes a task the
environment sets a new target (cubes are stacked with an episode-level probability). Scene
episodes where the cube leaves view (outside the drawer) are redrawn. Episode counts follow the
published commands (1000, or 3000 / 5000 for the largest cube and puzzle variants), 1001 steps
each; the validation file holds a tenth as many episodes.

Every episode seeds NumPy's global generator (which the oracles use) and the environment from
(seed, split, episode index), so it does not depend on which episodes ran before it or where.
"""

from __future__ import annotations

from dataclasses import dataclass

import gymnasium
import numpy as np
import ogbench.manipspace  # noqa: F401  (registers the environments)
from ogbench.manipspace.oracles.markov.button_markov import ButtonMarkovOracle
from ogbench.manipspace.oracles.markov.cube_markov import CubeMarkovOracle
from ogbench.manipspace.oracles.markov.drawer_markov import DrawerMarkovOracle
from ogbench.manipspace.oracles.markov.window_markov import WindowMarkovOracle
from ogbench.manipspace.oracles.plan.button_plan import ButtonPlanOracle
from ogbench.manipspace.oracles.plan.cube_plan import CubePlanOracle
from ogbench.manipspace.oracles.plan.drawer_plan import DrawerPlanOracle
from ogbench.manipspace.oracles.plan.window_plan import WindowPlanOracle

P_STACK_RANGE = {"single": (0.0, 0.0), "double": (0.0, 0.25), "triple": (0.05, 0.35), "quadruple": (0.1, 0.5)}
NOISE_SCALE = np.array([1.0, 1.0, 1.0, 3.0, 10.0])  # x, y, z, yaw, gripper


@dataclass(frozen=True)
class ManipRecipe:
    env_id: str
    kind: str  # 'play' (plan oracles) or 'noisy' (Markov oracles + noise + random actions)
    episodes: int
    episode_steps: int = 1001
    noise: float = 0.1
    noise_smoothing: float = 0.5
    min_norm: float = 0.4
    p_random_action: float = 0.0


def _recipes() -> dict[str, ManipRecipe]:
    recipes = {}
    sizes = {
        "cube-single": 1000,
        "cube-double": 1000,
        "cube-triple": 3000,
        "cube-quadruple": 5000,
        "scene": 1000,
    }
    sizes.update({"puzzle-3x3": 1000, "puzzle-4x4": 1000, "puzzle-4x5": 3000, "puzzle-4x6": 5000})
    for env, episodes in sizes.items():
        recipes[f"{env}-play-v0"] = ManipRecipe(f"{env}-v0", "play", episodes)
        p_random = 0.2 if env.startswith("puzzle") else 0.1
        recipes[f"{env}-noisy-v0"] = ManipRecipe(f"{env}-v0", "noisy", episodes, p_random_action=p_random)
    return recipes


RECIPES: dict[str, ManipRecipe] = _recipes()


def _oracles(recipe: ManipRecipe, env: gymnasium.Env) -> dict:
    plan = recipe.kind == "play"
    p = dict(noise=recipe.noise, noise_smoothing=recipe.noise_smoothing)
    m = dict(min_norm=recipe.min_norm)
    if recipe.env_id.startswith("puzzle"):
        kw = dict(env=env, gripper_always_closed=True)
        return {"button": ButtonPlanOracle(**kw, **p) if plan else ButtonMarkovOracle(**kw, **m)}
    if recipe.env_id.startswith("cube"):
        return {"cube": CubePlanOracle(env=env, **p) if plan else CubeMarkovOracle(env=env, **m)}
    if plan:
        return {
            "cube": CubePlanOracle(env=env, **p),
            "button": ButtonPlanOracle(env=env, **p),
            "drawer": DrawerPlanOracle(env=env, **p),
            "window": WindowPlanOracle(env=env, **p),
        }
    return {
        "cube": CubeMarkovOracle(env=env, max_step=100, **m),
        "button": ButtonMarkovOracle(env=env, **m),
        "drawer": DrawerMarkovOracle(env=env, **m),
        "window": WindowMarkovOracle(env=env, **m),
    }


def scene_healthy(qpos: np.ndarray) -> bool:
    """The cube stays in view: not too far right, and not far left unless it lies in the drawer."""
    block = qpos[:, 14:17]
    too_right = (block[:, 1] >= 0.29).any()
    lost_left = ((block[:, 1] <= -0.3) & ((block[:, 2] < 0.06) | (block[:, 2] > 0.08))).any()
    return not (too_right or lost_left)


class ManipGenerator:
    """Rolls out the recipe's oracles in one environment; `episode(split, index)` is deterministic."""

    def __init__(self, recipe: ManipRecipe, seed: int):
        self.recipe, self.seed = recipe, seed
        self.env = gymnasium.make(
            recipe.env_id,
            terminate_at_goal=False,
            mode="data_collection",
            max_episode_steps=recipe.episode_steps,
        )
        self.oracles = _oracles(recipe, self.env)
        self.has_buttons = hasattr(self.env.unwrapped, "_cur_button_states")

    def _p_stack(self) -> float:
        size = self.recipe.env_id.split("-")[1]
        if self.recipe.env_id.startswith("cube"):
            return float(np.random.uniform(*P_STACK_RANGE[size])) if size != "single" else 0.0
        return 0.5

    def episode(self, split: int, index: int) -> tuple[dict[str, np.ndarray], int]:
        """One episode and the number of tasks the oracle completed in it; split 0 is training, 1 is val."""
        np.random.seed([self.seed, split, index])
        while True:  # scene episodes that lose the cube are redrawn (from the same, continuing stream)
            out, tasks = self._rollout()
            if not self.recipe.env_id.startswith("scene") or scene_healthy(out["qpos"]):
                return out, tasks

    def _rollout(self) -> tuple[dict[str, np.ndarray], int]:
        env, recipe = self.env, self.recipe
        env.action_space.seed(int(np.random.randint(2**31)))
        ob, info = env.reset(seed=int(np.random.randint(2**31)))
        p_stack = self._p_stack()
        xi = np.random.uniform(0, recipe.noise) if recipe.kind == "noisy" else 0.0
        agent = self.oracles[info["privileged/target_task"]]
        agent.reset(ob, info)
        rows: dict[str, list] = {k: [] for k in ("observations", "actions", "qpos", "qvel")}
        if self.has_buttons:
            rows["button_states"] = []
        tasks = 0
        for _ in range(recipe.episode_steps):
            if np.random.rand() < recipe.p_random_action:
                action = env.action_space.sample()
            else:
                action = np.array(agent.select_action(ob, info))
                if recipe.kind == "noisy":
                    action = action + np.random.normal(0, xi * NOISE_SCALE, action.shape)
            action = np.clip(action, -1, 1)
            next_ob, _, _, _, info = env.step(action)
            if agent.done:
                tasks += 1
                agent_ob, agent_info = env.unwrapped.set_new_target(p_stack=p_stack)
                agent = self.oracles[agent_info["privileged/target_task"]]
                agent.reset(agent_ob, agent_info)
            rows["observations"].append(ob)
            rows["actions"].append(action)
            rows["qpos"].append(info["prev_qpos"])
            rows["qvel"].append(info["prev_qvel"])
            if self.has_buttons:
                rows["button_states"].append(info["prev_button_states"])
            ob = next_ob
        out = {k: np.asarray(v, np.int64 if k == "button_states" else np.float32) for k, v in rows.items()}
        out["terminals"] = np.zeros(recipe.episode_steps, bool)
        out["terminals"][-1] = True
        return out, tasks
