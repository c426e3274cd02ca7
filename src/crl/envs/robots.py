"""The CRL paper's robot tasks on native MuJoCo, stepped on the host in batches of copies.

Observations, goals and start distributions follow the paper's code (google-research `contrastive_rl`,
App. E.1). For Fetch and Sawyer the goal is a vector of the state's layout holding the target where the
reached state would hold it, so relabelled goals (whole future states) and commanded goals share a space;
for the ant the goal is the torso's XY, and relabelled goals keep those two coordinates of the state
(`goal_indices`). Success: the tracked position within `success_radius` of the target at any step.

| task        | state                                            | goal                            | steps |
| fetch-reach | FetchReach observation (10)                      | target in 0:3                   | 50    |
| fetch-push  | FetchPush observation (25)                       | target in 0:3 and 3:6           | 50    |
| sawyer-push | finger centre 3, puck 3, gripper opening 1       | [target, target, 0.5]           | 150   |
| sawyer-bin  | hand 3, gripper opening 1, object 3              | [target + 3 cm up, 0.4, target] | 150   |
| ant-umaze   | torso xyz, orientation, joints, velocities (29)  | target XY (2)                   | 700   |

Every episode of a copy starts from a seed (`HostEnvs.reset`), so an episode is a function of its seed:
the online loop seeds episodes by (run seed, copy, episode number), which makes runs reproducible and lets
a resumed run restart its environments exactly at a checkpoint.
"""

from __future__ import annotations

import contextlib
import importlib
import io
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from crl.errors import CrlError, EnvironmentFailure

ROBOTS_EXTRA = "pip install -c constraints.txt -e '.[robots]'"
_SEED_RANGE = 2**31


def _require(task: str, package: str, module: str):
    try:
        with contextlib.redirect_stderr(io.StringIO()):  # gymnasium-robotics prints a notice on Adroit hands
            return importlib.import_module(module)
    except ImportError as e:
        raise CrlError(f"{task} needs {package}: {ROBOTS_EXTRA}") from e


@dataclass(frozen=True)
class RobotTask:
    """What the online loop needs of a task; subclasses say how to make, reset and step its environment."""

    name: str
    source: str  # the environment crl builds on, for `crl envs list`
    obs_dim: int
    action_dim: int
    episode_length: int
    success_radius: float = 0.05
    goal_indices: tuple[int, ...] | None = None  # state coordinates a relabelled goal keeps (None: all)

    @property
    def obs_shape(self) -> tuple[int, ...]:
        return (self.obs_dim,)

    def make(self, seed: int):
        raise NotImplementedError

    def reset(self, env, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Start an episode: (state, goal vector, target position)."""
        raise NotImplementedError

    def step(self, env, action: np.ndarray) -> np.ndarray:
        """Apply an action in [-1, 1]^action_dim; returns the new state."""
        raise NotImplementedError

    def simulator(self, env):
        """What holds the MuJoCo `model` and `data` that `env` steps (for drawing it)."""
        return env

    tracked_dims: tuple[int, ...] = ()  # the state coordinates whose distance to the target decides success

    @property
    def goal_shape(self) -> tuple[int, ...]:
        return self.obs_shape if self.goal_indices is None else (len(self.goal_indices),)

    def position(self, env, observation: np.ndarray) -> np.ndarray:
        """The tracked position, whose distance to the target decides success."""
        return observation[list(self.tracked_dims)]

    @property
    def reward_dims(self) -> tuple[int, ...] | None:
        """The tracked coordinates within a goal vector (None: a goal is the tracked position itself)."""
        return None if self.goal_indices == self.tracked_dims else self.tracked_dims


# --- Fetch (gymnasium-robotics) ----------------------------------------------------------------------


@dataclass(frozen=True)
class FetchTask(RobotTask):
    env_id: str = ""
    goal_slots: tuple[int, ...] = (0,)  # state offsets that hold the target's xyz in a goal vector

    def make(self, seed: int):
        gym = _require(self.name, "gymnasium-robotics", "gymnasium")
        robotics = _require(self.name, "gymnasium-robotics", "gymnasium_robotics")
        from crl.envs import upstream

        upstream.adapt()
        gym.register_envs(robotics)
        env = gym.make(self.env_id, disable_env_checker=True).unwrapped  # crl counts the steps itself
        env.reset(seed=seed)
        return env

    def reset(self, env, rng):
        raw, _ = env.reset(seed=int(rng.integers(_SEED_RANGE)))
        target = raw["desired_goal"].astype(np.float32)
        goal = np.zeros(self.obs_dim, np.float32)
        for slot in self.goal_slots:
            goal[slot : slot + 3] = target
        return raw["observation"].astype(np.float32), goal, target

    def step(self, env, action):
        return env.step(action)[0]["observation"].astype(np.float32)


# --- Sawyer (Meta-World) -----------------------------------------------------------------------------


@dataclass(frozen=True)
class SawyerTask(RobotTask):
    """Meta-World's Sawyer with the paper's own state, goals and start distribution. Steps move the mocap
    and simulate as Meta-World's `step` does, without its dense reward (the paper's code ignores it)."""

    env_id: str = ""

    def make(self, seed: int):
        _require(self.name, "metaworld", "metaworld")
        from metaworld.env_dict import ALL_V3_ENVIRONMENTS

        from crl.envs import upstream

        upstream.adapt()
        env = ALL_V3_ENVIRONMENTS[self.env_id]()
        env._partially_observable = False
        env._set_task_called = True
        env._freeze_rand_vec = True  # reset_model places the objects from `_last_rand_vec`, which crl draws
        env.max_path_length = np.iinfo(np.int64).max  # crl ends episodes itself
        return env

    def step(self, env, action):
        env.set_xyz_action(action[:3])
        env.do_simulation([action[3], -action[3]], n_frames=env.frame_skip)
        return self.state(env)

    def state(self, env) -> np.ndarray:
        raise NotImplementedError

    @staticmethod
    def _place(env, rand_vec: np.ndarray) -> None:
        env._last_rand_vec = np.asarray(rand_vec, np.float64)
        env.reset()


@dataclass(frozen=True)
class SawyerPush(SawyerTask):
    def reset(self, env, rng):
        while True:  # as the paper's code: puck and goal at least 15 cm apart
            puck, goal_xy = rng.uniform([-0.1, 0.6], [0.1, 0.7]), rng.uniform([-0.1, 0.5], [0.1, 0.9])
            if np.linalg.norm(puck - goal_xy) >= 0.15:
                break
        self._place(env, np.r_[puck, 0.02, goal_xy, 0.02])
        target = np.asarray(env._target_pos, np.float32)  # goal xy at the puck's height
        return self.state(env), np.r_[target, target, 0.5].astype(np.float32), target

    def state(self, env):
        hand_grip_obj = env._get_curr_obs_combined_no_goal()
        return np.r_[env.tcp_center, hand_grip_obj[4:7], hand_grip_obj[3]].astype(np.float32)


@dataclass(frozen=True)
class SawyerPushGoal(SawyerPush):
    """Sawyer push with a goal of the state's first `goal_dims` coordinates (CRL paper F.2, Fig. 9): 1, the
    gripper's x; 3, its position; 6, and the puck's; 7, and the gripper's opening. Success: those
    coordinates within 5 cm of the goal's."""

    goal_dims: int = 7

    def reset(self, env, rng):
        state, goal, _ = super().reset(env, rng)
        return state, goal[: self.goal_dims], goal[: self.goal_dims]


def _sawyer_push_goal(dims: int) -> SawyerPushGoal:
    first = tuple(range(dims))
    name, source = f"sawyer-push-goal{dims}", f"Meta-World push-v3, goal: state[:{dims}] (Fig. 9)"
    return SawyerPushGoal(name, source, 7, 4, 150, goal_indices=first, tracked_dims=first, env_id="push-v3",
                          goal_dims=dims)  # fmt: skip


@dataclass(frozen=True)
class SawyerBin(SawyerTask):
    def reset(self, env, rng):
        obj_xy = rng.uniform([-0.21, 0.65], [-0.03, 0.75])
        self._place(env, np.r_[obj_xy, 0.02, 0.12, 0.7, 0.0])
        # The paper's goals lie anywhere between the object and the target bin, often in the air.
        bin_goal = np.asarray(env._target_pos) + rng.uniform(-0.05, 0.05, 3)
        t = rng.uniform()
        target = t * bin_goal + (1 - t) * np.asarray(env.obj_init_pos)
        target[2] = rng.uniform(0.03, 0.12)
        target = target.astype(np.float32)
        return self.state(env), np.r_[target + [0, 0, 0.03], 0.4, target].astype(np.float32), target

    def state(self, env):
        return env._get_curr_obs_combined_no_goal()[:7].astype(np.float32)


# --- Ant U-maze (gymnasium-robotics AntMaze) ---------------------------------------------------------

# The paper's U: walls on the border and at (2, 1), (2, 2); the start cell (1, 1); goals in any other
# free cell. gymnasium-robotics centres the maze at the origin, 4 m cells, x along columns, y up.
U_MAZE = (
    (1, 1, 1, 1, 1),
    (1, "r", 0, 0, 1),
    (1, 1, 1, 0, 1),
    (1, 0, 0, 0, 1),
    (1, 1, 1, 1, 1),
)
U_START = (1, 1)
U_CELL = 4.0  # m: gymnasium-robotics' maze_size_scaling for AntMaze
U_GOAL_CELLS = ((1, 2), (1, 3), (2, 3), (3, 1), (3, 2), (3, 3))


@dataclass(frozen=True)
class AntUMaze(RobotTask):
    """The ant of the paper's U-maze. The goal cell is uniform over the cells other than the start; half of
    the episodes start in the start cell, half in a random goal cell (as the paper's code); each position
    gets gymnasium-robotics' uniform noise of +-1 m per axis. The joints start with noise 0.1 (D4RL's)."""

    def make(self, seed: int):
        gym = _require(self.name, "gymnasium-robotics", "gymnasium")
        robotics = _require(self.name, "gymnasium-robotics", "gymnasium_robotics")
        from crl.envs import upstream

        upstream.adapt()
        gym.register_envs(robotics)
        maze = [list(row) for row in U_MAZE]
        env = gym.make(
            "AntMaze_UMaze-v5", maze_map=maze, include_cfrc_ext_in_observation=False, disable_env_checker=True
        ).unwrapped
        env.ant_env._reset_noise_scale = 0.1
        env.reset(seed=seed)
        return env

    def reset(self, env, rng):
        goal_cell = U_GOAL_CELLS[rng.integers(len(U_GOAL_CELLS))]
        start_cell = U_START if rng.uniform() < 0.5 else U_GOAL_CELLS[rng.integers(len(U_GOAL_CELLS))]
        options = {"goal_cell": np.array(goal_cell), "reset_cell": np.array(start_cell)}
        raw, _ = env.reset(seed=int(rng.integers(_SEED_RANGE)), options=options)
        target = raw["desired_goal"].astype(np.float32)
        return self._state(raw), target, target

    def step(self, env, action):
        return self._state(env.step(action)[0])

    def simulator(self, env):
        return env.ant_env

    @staticmethod
    def _state(raw: dict) -> np.ndarray:
        return np.r_[raw["achieved_goal"], raw["observation"]].astype(np.float32)  # qpos[:15], qvel[:14]


TASKS: dict[str, RobotTask] = {
    task.name: task
    for task in (
        FetchTask("fetch-reach", "gymnasium-robotics FetchReach-v4", 10, 4, 50, tracked_dims=(0, 1, 2),
                  env_id="FetchReach-v4"),
        FetchTask("fetch-push", "gymnasium-robotics FetchPush-v4", 25, 4, 50, tracked_dims=(3, 4, 5),
                  env_id="FetchPush-v4", goal_slots=(0, 3)),
        SawyerPush("sawyer-push", "Meta-World push-v3", 7, 4, 150, tracked_dims=(3, 4, 5), env_id="push-v3"),
        SawyerBin("sawyer-bin", "Meta-World bin-picking-v3", 7, 4, 150, tracked_dims=(4, 5, 6),
                  env_id="bin-picking-v3"),
        AntUMaze("ant-umaze", "gymnasium-robotics AntMaze_UMaze-v5, the paper's U", 29, 8, 700,
                 success_radius=0.5, goal_indices=(0, 1), tracked_dims=(0, 1)),
        *(_sawyer_push_goal(dims) for dims in range(1, 8)),
    )
}  # fmt: skip


def episode_rng(*entropy: int) -> np.random.Generator:
    """The random stream of one episode, a function of the integers that name it."""
    return np.random.default_rng([int(e) for e in entropy])


class HostEnvs:
    """`n` copies of one task stepped in lockstep with a plain loop (one batched policy call per step
    gives every copy its action)."""

    def __init__(self, task: RobotTask, n: int, seed: int = 0):
        self.task = task
        self.envs = [task.make(seed + i) for i in range(n)]
        self.targets = np.zeros((n, len(task.tracked_dims)), np.float32)
        self.succeeded = np.zeros(n, bool)

    def __len__(self) -> int:
        return len(self.envs)

    def reset(self, episode_seeds: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
        """Fresh episodes, copy i's drawn from `episode_seeds[i]` (integers): (states, goals)."""
        states, goals = [], []
        for i, (env, entropy) in enumerate(zip(self.envs, episode_seeds, strict=True)):
            state, goal, self.targets[i] = self._guarded(i, self.task.reset, env, episode_rng(*entropy))
            states.append(state)
            goals.append(goal)
        states = np.stack(states)
        self.succeeded = self._reached(states)
        return states, np.stack(goals)

    def step(self, actions: np.ndarray) -> np.ndarray:
        """One step of every copy; returns the new states. `succeeded` remembers any step at the goal."""
        actions = np.clip(np.asarray(actions, np.float64), -1.0, 1.0)
        states = np.stack(
            [
                self._guarded(i, self.task.step, env, a)
                for i, (env, a) in enumerate(zip(self.envs, actions, strict=True))
            ]
        )
        self.succeeded |= self._reached(states)
        return states

    def _guarded(self, copy: int, fn, *args):
        try:
            out = fn(*args)
        except Exception as e:  # noqa: BLE001 -- any simulator failure ends the run with one line
            raise EnvironmentFailure(f"{self.task.name} copy {copy} raised {type(e).__name__}: {e}") from e
        state = out[0] if isinstance(out, tuple) else out
        if not np.all(np.isfinite(state)):
            raise EnvironmentFailure(f"{self.task.name} copy {copy} returned a non-finite state")
        return out

    def _reached(self, states: np.ndarray) -> np.ndarray:
        return self.distances(states) <= self.task.success_radius

    def positions(self, states: np.ndarray) -> np.ndarray:
        """(n, k): each copy's tracked position (read from its simulator where the states are frames)."""
        copies = zip(self.envs, states, strict=True)
        return np.array([self.task.position(env, s) for env, s in copies])

    def distances(self, states: np.ndarray) -> np.ndarray:
        """Each copy's distance from its tracked position to its target."""
        pairs = zip(self.positions(states), self.targets, strict=True)
        return np.array([np.linalg.norm(p - t) for p, t in pairs])


def rollout_success(task: RobotTask, policy, episodes: int, seed: int = 0) -> float:
    """Success rate of `policy(states, goals) -> actions` over `episodes` episodes run side by side."""
    envs = HostEnvs(task, episodes, seed)
    states, goals = envs.reset([(seed, i) for i in range(episodes)])
    for _ in range(task.episode_length):
        states = envs.step(policy(states, goals))
    return float(envs.succeeded.mean())
