"""`crl eval --video`: each video is the evaluation's own first episode of its task, one frame per step."""

from __future__ import annotations

import dataclasses

import imageio.v3 as iio
import numpy as np
import pytest
from PIL import Image

from crl import video
from crl.cli import main
from crl.envs import make_env
from crl.envs.point_images import render
from crl.evaluation import evaluate
from crl.presets import preset_config
from crl.train import train


@pytest.fixture(scope="module")
def point_run(tmp_path_factory):
    """A point-fourrooms run of 208 random steps and its checkpoint (an untrained, deterministic policy)."""
    run_dir = tmp_path_factory.mktemp("video") / "run"
    config = preset_config("quick", None, "crl", env="point-fourrooms")
    small = dataclasses.replace(config.agent, batch_size=32, hidden=(32, 32), latent_dim=16)
    train(dataclasses.replace(config, agent=small, steps=208, random_steps=208, log_every=208,
                              checkpoint_every=208, eval_every=0, eval_episodes=0, run_dir=run_dir,
                              progress=False))  # fmt: skip
    return run_dir


def test_crl_eval_video_writes_the_point_episode_beside_its_goal(point_run, capsys):
    assert main(["eval", str(point_run), "--eval-episodes", "1", "--video", "--no-progress"]) == 0
    (line,) = [x for x in capsys.readouterr().out.splitlines() if x.startswith("video: ")]
    path = point_run / "videos" / "step208-point-fourrooms.mp4"
    assert line == f"video: {path}"
    frames = iio.imread(path, plugin="FFMPEG")
    env = make_env("point-fourrooms")
    assert frames.shape == (env.episode_length + 1, video.SIZE, 2 * video.SIZE, 3)
    # The right half is the goal, the same in every frame; the left half moves with the point.
    goals = frames[:, :, video.SIZE :].astype(int)
    assert np.abs(goals - goals[0]).mean() < 2
    scenes = frames[:, :, : video.SIZE].astype(int)
    assert np.abs(scenes[0] - goals[0]).mean() > 1  # the episode starts away from its goal


def test_without_an_mp4_encoder_the_video_is_a_gif_of_the_episodes_length(monkeypatch, tmp_path):
    monkeypatch.setattr(video, "mp4_encoder_present", lambda: False)
    env = make_env("point-fourrooms")
    positions = np.linspace([1.5, 1.5], [1.5, 4.5], 11)
    positions[5:8] = positions[5]  # the point rests: Pillow merges those frames, their time stays
    frames = video.point_frames(env, positions, np.array([1.5, 4.5]))
    path = video.write_video(tmp_path / "episode", frames, fps=10)
    assert path.suffix == ".gif"
    with Image.open(path) as gif:
        durations = []
        for i in range(gif.n_frames):
            gif.seek(i)
            durations.append(gif.info["duration"])
    assert sum(durations) == pytest.approx(len(frames) * 100, abs=1)
    assert len(durations) == len(frames) - 2
    np.testing.assert_array_equal(frames[-1][:, video.SIZE :], frames[-1][:, : video.SIZE])  # at the goal
    np.testing.assert_array_equal(
        frames[0][:, : video.SIZE], np.asarray(render(env, positions[0], video.SIZE))
    )


def test_an_ogbench_video_replays_the_evaluations_episode():
    """The video's episode sees exactly the observations the evaluation's first episode of the task saw."""
    env_id = "pointmaze-medium-v0"

    def toward_goal(seen):
        def policy(obs, goals):
            seen.append(obs[0].copy())
            return np.clip(5 * (goals - obs), -1, 1)

        return policy

    evaluated, recorded = [], []
    result = evaluate(env_id, toward_goal(evaluated), 1, seed=3, progress=False)  # task 1 is row 0
    frames, success = video.ogbench_episode(env_id, toward_goal(recorded), 3, task_id=1)
    assert success == result.task_success["task1"] == 1.0
    assert len(frames) == len(recorded) + 1 < 1001  # reached the goal before the time limit
    np.testing.assert_array_equal(np.stack(recorded), np.stack(evaluated[: len(recorded)]))
    assert frames[0].shape == (video.SIZE, 2 * video.SIZE, 3)  # the scene and OGBench's rendered goal


def test_robot_videos_show_the_target_and_image_tasks_their_goal_image():
    pytest.importorskip("gymnasium_robotics", reason="the robot tasks need `pip install -e '.[robots]'`")
    from crl.envs import HOST_TASKS
    from crl.envs.robots import HostEnvs, rollout_success

    def reach(obs, goals):
        return np.c_[np.clip(10 * (goals[:, :3] - obs[:, :3]), -1, 1), np.zeros(len(obs))]

    task = HOST_TASKS["fetch-reach"]
    frames, success = video.robot_episode(task, reach, seed=7, episode=0)
    assert len(frames) == task.episode_length + 1 and frames[0].shape == (video.SIZE, video.SIZE, 3)
    assert success == rollout_success(task, reach, 1, seed=7) == 1.0
    red = (frames[0][..., 0] > 150) & (frames[0][..., 1] < 60) & (frames[0][..., 2] < 60)
    assert red.sum() > 10  # the target marker, placed where the goal is

    image_task = HOST_TASKS["fetch-reach-image"]
    frames, _ = video.robot_episode(image_task, lambda o, g: np.zeros((len(o), 4)), seed=7, episode=0)
    envs = HostEnvs(image_task, 1, seed=7)
    obs, goals = envs.reset([(7, 0)])
    np.testing.assert_array_equal(frames[0], video.side_by_side(obs[0], goals[0]))
