"""Videos of evaluation episodes (`crl eval RUN_DIR --video`): one per evaluation task and seed.

A video shows the evaluation's first episode of its task, deterministic policy, exactly as the
evaluation ran it (the same start, goal and environment randomness). Each frame is the scene beside
the goal: the goal image where the environment has one (pixel tasks, OGBench's manipulation tasks,
the point mazes); otherwise the scene's own goal marker shows it (OGBench's mazes, the robot tasks'
targets). MP4 through imageio's ffmpeg plugin (`pip install -e '.[video]'`), else an animated GIF.
"""

from __future__ import annotations

import dataclasses
import importlib.util
from functools import partial
from pathlib import Path

import imageio.v3 as iio
import jax
import numpy as np
from PIL import Image

from crl.agents import agent_module
from crl.config import AgentConfig
from crl.envs.locomotion import LocomotionTask
from crl.envs.point import PointMaze
from crl.envs.robot_images import SHADOW_MAP

SIZE = 192  # pixels: each panel's side (a multiple of 16, as H.264 encoders want)
FPS = 20


def mp4_encoder_present() -> bool:
    return importlib.util.find_spec("imageio_ffmpeg") is not None


def write_video(path: Path, frames: list[np.ndarray], fps: int = FPS) -> Path:
    """Write `frames` (uint8, H x W x 3) to `path` with the suffix of the encoder present: .mp4 where
    imageio's ffmpeg plugin is installed, else .gif. Returns the path written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    stack = np.stack(frames)
    if mp4_encoder_present():
        path = path.with_suffix(".mp4")
        iio.imwrite(path, stack, plugin="FFMPEG", fps=fps, macro_block_size=16)
    else:
        path = path.with_suffix(".gif")  # Pillow merges repeated frames into one longer one
        iio.imwrite(path, stack, plugin="pillow", duration=1000 / fps, loop=0)
    return path


def panel(image: np.ndarray) -> np.ndarray:
    """`image` scaled to SIZE x SIZE (nearest neighbour: a 64x64 observation stays crisp)."""
    image = np.asarray(image, np.uint8)
    if image.shape[:2] == (SIZE, SIZE):
        return image
    return np.asarray(Image.fromarray(image).resize((SIZE, SIZE), Image.NEAREST))


def side_by_side(scene: np.ndarray, goal: np.ndarray | None) -> np.ndarray:
    return panel(scene) if goal is None else np.concatenate([panel(scene), panel(goal)], axis=1)


def is_image(x: np.ndarray) -> bool:
    return np.ndim(x) == 3


# --- OGBench environments (offline runs) ------------------------------------------------------------


def ogbench_episode(
    env_id: str, policy, seed: int, task_id: int, progress: bool = False
) -> tuple[list[np.ndarray], float]:
    """Frames and success of the evaluation's first episode of `task_id` (`crl.evaluation`)."""
    import gymnasium
    from tqdm import tqdm

    from crl.evaluation import start_episode, step_seed

    size = {} if env_id.startswith("visual-") else {"width": SIZE, "height": SIZE}  # visual: sizes the obs
    env = gymnasium.make(env_id, render_mode="rgb_array", **size)
    env.unwrapped.model.vis.quality.shadowsize = SHADOW_MAP  # before the renderer: 2.4x faster on mazes
    caller_rng = np.random.get_state()
    try:
        obs, info = start_episode(env, seed, task_id, 0, render_goal=True)
        goal = info["goal"]
        seeds = np.random.randint(2**31)  # as `evaluate_seeds` draws it: the episode's own stream
        goal_image = goal if is_image(goal) else info.get("goal_rendered")

        def frame(obs):
            return side_by_side(obs if is_image(obs) else env.render(), goal_image)

        frames, done, t, success = [frame(obs)], False, 0, 0.0
        bar = tqdm(total=env.spec.max_episode_steps, desc=f"video of task {task_id}", unit="frame",
                   disable=not progress, leave=False)  # fmt: skip
        while not done:
            step_seed(seeds, t)
            obs, _, terminated, truncated, info = env.step(policy(obs[None], goal[None])[0])
            frames.append(frame(obs))
            done, success, t = terminated or truncated, info["success"], t + 1
            bar.update()
        bar.close()
    finally:
        np.random.set_state(caller_rng)
        env.close()
    return frames, float(success)


# --- the point mazes (online runs in JAX) -----------------------------------------------------------


@partial(jax.jit, static_argnames=("env", "agent_config"))
def point_episode(state, env: PointMaze, agent_config: AgentConfig, key: jax.Array):
    """Positions (T + 1, 2), goal and success of one deterministic episode, as `evaluate_online` runs it."""
    act = agent_module(agent_config).act
    k_reset, k_steps = jax.random.split(key)

    def step(s, k):
        action = act(agent_config, env.action_dim, state, env.observation(s)[None], env.goal(s)[None])[0]
        s = env.step(s, action, k)
        return s, s.position

    start = env.reset(k_reset)
    final, positions = jax.lax.scan(step, start, jax.random.split(k_steps, env.episode_length))
    return jax.numpy.concatenate([start.position[None], positions]), start.goal, final.succeeded


def point_frames(env: PointMaze, positions: np.ndarray, goal: np.ndarray) -> list[np.ndarray]:
    from crl.envs.point_images import render

    draw = jax.jit(jax.vmap(lambda p: render(env, p, SIZE)))
    goal_image = np.asarray(render(env, goal, SIZE))
    return [side_by_side(f, goal_image) for f in np.asarray(draw(positions))]


# --- the robot tasks (online runs on the host) ------------------------------------------------------


def robot_episode(task, policy, seed: int, episode: int) -> tuple[list[np.ndarray], float]:
    """Frames and success of one episode of a host task, started from the seed (seed, episode) as the
    evaluation starts its episodes (`crl.online_host.evaluate_host`)."""
    from crl.envs.robots import HostEnvs

    envs = HostEnvs(task, 1, seed=seed)
    camera = scene_camera(task, envs.envs[0])
    obs, goals = envs.reset([(seed, episode)])
    goal_image = goals[0] if is_image(goals[0]) else None
    frames = [side_by_side(camera(obs[0]), goal_image)]
    for _ in range(task.episode_length):
        obs = envs.step(policy(obs, goals))
        frames.append(side_by_side(camera(obs[0]), goal_image))
    return frames, float(envs.succeeded[0])


def expert_episode(task: LocomotionTask, policy, seed: int) -> list[np.ndarray]:
    """The frames of a locomotion expert's first evaluation episode (`crl.online_experts`), until it ends
    or falls; its command is in its observation, not drawn."""
    env = task.make(seed, render_size=SIZE)
    obs, stream = task.reset(env, (seed, 0))
    frames = [env.render()]
    for t in range(task.episode_length):
        obs, _, terminated, _ = task.step(env, policy(obs[None], np.zeros((1, 0), np.float32))[0], stream, t)
        frames.append(env.render())
        if terminated:
            break
    return frames


def scene_camera(task, env):
    """obs -> the frame to show: an image task's own observation; a state task drawn at SIZE by the
    camera of its image variant, goal markers visible (the ant: from above, the whole maze)."""
    from crl.envs import IMAGE_TASKS
    from crl.envs.robot_images import _FREE, Camera, View

    if is_image(np.zeros(task.obs_shape)):
        return lambda obs: obs
    image_task = IMAGE_TASKS.get(f"{task.name}-image")
    view = View(_FREE, lookat=(0.0, 0.0, 0.0), distance=22.0, azimuth=90.0, elevation=-90.0)
    if image_task is not None:
        view = dataclasses.replace(image_task.view, hidden_sites=())
    sim = task.simulator(env)
    camera = Camera(sim, view, size=SIZE)
    place_markers = getattr(sim, "_render_callback", lambda: None)  # Fetch moves its target marker there

    def frame(obs):
        place_markers()
        return camera.frame()

    return frame


# --- a run's videos ---------------------------------------------------------------------------------


def record_run(config, carry, step: int, runs: list[tuple[int, Path]], progress: bool = True) -> list[Path]:
    """One video per evaluation task for each seed's policy (`carry`: the restored, seed-stacked state),
    written to SEED_DIR/videos/step{step}-{task}; returns the paths."""
    from crl.envs import make_env, on_host
    from crl.train import policy_for

    agent_config = config.agent.for_run(config.steps)
    states = carry[0] if config.online else carry
    paths = []
    for i, (seed, directory) in enumerate(runs):
        state = jax.tree.map(lambda x, i=i: x[i : i + 1], states)  # a stack of one seed
        out = directory / "videos"
        if not config.online:
            paths += _ogbench_videos(config.dataset, seed, state, agent_config, out / f"step{step}", progress)
            continue
        env = make_env(config.env)
        if isinstance(env, LocomotionTask):
            from crl.online_experts import EVAL_SEED

            policy = policy_for(state, agent_config, env.action_dim, 1)
            frames = expert_episode(env, policy, EVAL_SEED)
        elif on_host(env):
            from crl.online_host import EVAL_SEED

            policy = policy_for(state, agent_config, env.action_dim, 1)
            frames, _ = robot_episode(env, policy, EVAL_SEED, 0)
        else:
            key = jax.random.split(jax.random.PRNGKey(0x5EED), config.eval_episodes)[0]  # evaluation's first
            positions, goal, _ = point_episode(jax.tree.map(lambda x: x[0], state), env, agent_config, key)
            frames = point_frames(env, np.asarray(positions), np.asarray(goal))
        paths.append(write_video(out / f"step{step}-{config.env}", frames))
    return paths


def _ogbench_videos(
    dataset: str, seed: int, state, agent_config: AgentConfig, prefix: Path, progress: bool
) -> list[Path]:
    from crl.data import store
    from crl.data.names import env_name
    from crl.evaluation import environments
    from crl.train import policy_for

    env_id = env_name(dataset)
    _, action_dim = store.env_spaces(env_id)
    policy = policy_for(state, agent_config, action_dim, 1)
    paths = []
    for task_id, info in enumerate(environments(env_id, 1)[0].unwrapped.task_infos, start=1):
        frames, _ = ogbench_episode(env_id, policy, seed, task_id, progress)
        paths.append(write_video(prefix.with_name(f"{prefix.name}-{info['task_name']}"), frames))
    return paths
