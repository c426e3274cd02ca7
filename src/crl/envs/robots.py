"""The CRL paper's robot tasks on native MuJoCo, stepped on the host in batches of copies.

Observations and goals follow the paper's code (google-research `contrastive_rl`): the state is the
underlying environment's observation vector, and the commanded goal is a vector of the same layout
holding the target where the reached state would hold it (zeros elsewhere), so that relabelled goals
(future states) and commanded goals live in one space. Success is the paper's: the task's tracked
position within 5 cm of the target at any step of the episode.

- fetch-reach: gymnasium-robotics FetchReach; state 10-D (gripper xyz first); goal = target in 0:3.
- fetch-push: FetchPush; state 25-D (gripper xyz, then block xyz); goal = target in 0:3 and 3:6 (the
  gripper should end at the block too); success is the block's distance.
Both run 50 steps per episode.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from crl.errors import CrlError

SUCCESS_DISTANCE = 0.05
ROBOTS_EXTRA = "pip install -c constraints.txt -e '.[robots]'"


@dataclass(frozen=True)
class FetchTask:
    """One Fetch task: which gymnasium-robotics environment, and where its target goes in the state."""

    name: str
    env_id: str
    obs_dim: int
    goal_slots: tuple[int, ...]  # state offsets that hold the target's xyz in a goal vector
    tracked: int  # state offset of the xyz whose distance to the target decides success
    episode_length: int = 50
    action_dim: int = 4

    def make(self, seed: int):
        try:
            import gymnasium as gym
            import gymnasium_robotics
        except ImportError as e:
            raise CrlError(f"{self.name} needs gymnasium-robotics: {ROBOTS_EXTRA}") from e
        from crl.envs import upstream

        upstream.adapt()
        gym.register_envs(gymnasium_robotics)
        env = gym.make(self.env_id, disable_env_checker=True).unwrapped  # crl counts the steps itself
        env.reset(seed=seed)
        return env

    def goal_vector(self, target: np.ndarray) -> np.ndarray:
        goal = np.zeros(self.obs_dim, np.float32)
        for slot in self.goal_slots:
            goal[slot : slot + 3] = target
        return goal

    def reached(self, state: np.ndarray, target: np.ndarray) -> bool:
        return bool(np.linalg.norm(state[self.tracked : self.tracked + 3] - target) < SUCCESS_DISTANCE)


TASKS = {
    "fetch-reach": FetchTask("fetch-reach", "FetchReach-v4", obs_dim=10, goal_slots=(0,), tracked=0),
    "fetch-push": FetchTask("fetch-push", "FetchPush-v4", obs_dim=25, goal_slots=(0, 3), tracked=3),
}


class HostEnvs:
    """`n` copies of one task stepped in lockstep with a plain loop (one batched policy call per step
    gives every copy its action). Copies are seeded seed, seed + 1, ..., so a batch is reproducible."""

    def __init__(self, task: FetchTask, n: int, seed: int):
        self.task = task
        self.envs = [task.make(seed + i) for i in range(n)]
        self.targets = np.zeros((n, 3), np.float32)
        self.succeeded = np.zeros(n, bool)

    def reset(self) -> tuple[np.ndarray, np.ndarray]:
        """Fresh episodes in every copy: (states (n, obs_dim), goals (n, obs_dim))."""
        states = []
        for i, env in enumerate(self.envs):
            raw, _ = env.reset()
            states.append(raw["observation"])
            self.targets[i] = raw["desired_goal"]
        states = np.asarray(states, np.float32)
        self.succeeded = self._reached(states)
        return states, self.goals

    @property
    def goals(self) -> np.ndarray:
        return np.stack([self.task.goal_vector(t) for t in self.targets])

    def step(self, actions: np.ndarray) -> np.ndarray:
        """One step of every copy; returns the new states. `succeeded` remembers any step at the goal."""
        actions = np.clip(actions, -1.0, 1.0)
        states = np.asarray(
            [env.step(a)[0]["observation"] for env, a in zip(self.envs, actions, strict=True)]
        )
        states = states.astype(np.float32)
        self.succeeded |= self._reached(states)
        return states

    def _reached(self, states: np.ndarray) -> np.ndarray:
        return np.array([self.task.reached(s, t) for s, t in zip(states, self.targets, strict=True)])


def rollout_success(task: FetchTask, policy, episodes: int, seed: int = 0) -> float:
    """Success rate of `policy(states, goals) -> actions` over `episodes` episodes run side by side."""
    envs = HostEnvs(task, episodes, seed)
    states, goals = envs.reset()
    for _ in range(task.episode_length):
        states = envs.step(policy(states, goals))
    return float(envs.succeeded.mean())
