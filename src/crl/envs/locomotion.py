"""OGBench's online locomotion tasks, on which its dataset experts are trained (`crl expert train`):

| expert   | environment            | observation                         | reward                         |
| ant      | online-ant-v0 + z      | ant proprioception (27) + z (29)    | xy displacement along z        |
| humanoid | online-humanoid-v0 + z | DMC humanoid features (67) + z (69) | standing x (1 + 100 dxy . z)   |
| antball  | online-antball-v0      | ant, ball, ball - ant, goal - ball  | ball toward goal, ant to ball  |

z is a unit direction in the plane, redrawn every 100 (ant) or 200 (humanoid) steps by OGBench's own
wrappers (shipped in ogbench, and used here). The ant and antball end an episode when the torso leaves its
healthy height range; antball's also ends, without bootstrapping, at its 200-step limit. Those wrappers
and environments draw from NumPy's global generator; crl seeds it per episode and step (as its OGBench
evaluation does), so that an episode is a function of its seed and a resumed run replays exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_SEED_RANGE = 2**31


@dataclass(frozen=True)
class LocomotionTask:
    name: str
    env_id: str  # ogbench's registered environment
    source: str  # for `crl envs list`
    obs_dim: int
    action_dim: int
    episode_length: int
    dt: float  # seconds per step: speeds from displacements
    resample: int | None = None  # steps between directions (None: no direction command)
    # OGBench's antball run counts its time limit as a terminal state (data_gen_scripts/commands.sh,
    # --terminate_at_end=1): the last step of a whole episode does not bootstrap
    terminal_at_limit: bool = False

    @property
    def obs_shape(self) -> tuple[int, ...]:
        return (self.obs_dim,)

    def make(self, seed: int, render_size: int = 64):
        import gymnasium
        import ogbench  # noqa: F401  (registers the environments)
        from ogbench.online_locomotion.wrappers import DMCHumanoidXYWrapper, GymXYWrapper

        np.random.seed(seed)  # the wrappers reset once when made
        # antball renders once when made; crl counts the steps itself (no time limit wrapper)
        size = {"width": render_size, "height": render_size}
        env = gymnasium.make(self.env_id, render_mode="rgb_array", disable_env_checker=True, **size).unwrapped
        if self.resample is None:
            return env
        wrapper = DMCHumanoidXYWrapper if "humanoid" in self.env_id else GymXYWrapper
        return wrapper(env, resample_interval=self.resample)

    def reset(self, env, entropy: tuple[int, ...]) -> tuple[np.ndarray, int]:
        """Start the episode named by `entropy`: (observation, the episode's stream for `step`)."""
        np.random.seed([int(e) for e in entropy])
        stream = int(np.random.randint(_SEED_RANGE))
        obs, _ = env.reset(seed=int(np.random.randint(_SEED_RANGE)))
        return np.asarray(obs, np.float32), stream

    def step(self, env, action: np.ndarray, stream: int, t: int) -> tuple[np.ndarray, float, bool, dict]:
        """Step t of the episode whose stream is `stream`: (observation, reward, terminated, info)."""
        np.random.seed((stream + t) % 2**32)
        obs, reward, terminated, _, info = env.step(np.clip(action, -1.0, 1.0))
        return np.asarray(obs, np.float32), float(reward), bool(terminated), info

    def speed(self, info: dict, previous_xy: np.ndarray) -> float:
        """Speed (m/s) along the commanded direction over the step (direction tasks)."""
        return float((info["xy"] - previous_xy) @ info["direction"]) / self.dt


EXPERT_TASKS: dict[str, LocomotionTask] = {
    task.name: task
    for task in (
        LocomotionTask(
            "online-ant-xy",
            "online-ant-v0",
            "ogbench online-ant-v0, directions (ant expert)",
            29,
            8,
            1000,
            dt=0.1,
            resample=100,
        ),
        LocomotionTask(
            "online-humanoid-xy",
            "online-humanoid-v0",
            "ogbench online-humanoid-v0, directions (humanoid expert)",
            69,
            21,
            1000,
            dt=0.025,
            resample=200,
        ),
        LocomotionTask(
            "online-antball",
            "online-antball-v0",
            "ogbench online-antball-v0 (antsoccer expert)",
            42,
            8,
            200,
            dt=0.1,
            terminal_at_limit=True,
        ),
    )
}
