"""The paper's image robot tasks: what the camera shows, what a goal image is, how success is judged, and
image runs through the host loop."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("gymnasium_robotics", reason="the robot tasks need `pip install -e '.[test]'`")
pytest.importorskip("metaworld", reason="the robot tasks need `pip install -e '.[test]'`")

from crl.checkpoint import Checkpoints  # noqa: E402
from crl.cli import main  # noqa: E402
from crl.envs import IMAGE_TASKS, make_env  # noqa: E402
from crl.envs.robot_images import IMAGE_SHAPE  # noqa: E402
from crl.envs.robots import HostEnvs  # noqa: E402
from crl.online import online_job  # noqa: E402
from crl.train import read_config  # noqa: E402


@pytest.mark.parametrize("name", sorted(IMAGE_TASKS))
def test_an_episode_is_a_function_of_its_seed(name):
    """Copies made from different seeds show identical frames, goal images and targets for the same named
    episode and actions: what lets a resumed run restart its environments exactly."""
    task = make_env(name)
    a, b = HostEnvs(task, 1, seed=0), HostEnvs(task, 1, seed=9)
    (frames_a, goals_a), (frames_b, goals_b) = a.reset([(0, 5)]), b.reset([(0, 5)])
    assert frames_a.shape == goals_a.shape == (1, *IMAGE_SHAPE) and frames_a.dtype == np.uint8
    np.testing.assert_array_equal(goals_a, goals_b)
    np.testing.assert_array_equal(a.targets, b.targets)
    for action in np.random.default_rng(0).uniform(-1, 1, (3, 1, 4)):
        frames_a, frames_b = a.step(action), b.step(action)
    np.testing.assert_array_equal(frames_a, frames_b)
    assert (frames_a[0] != goals_a[0]).any(-1).mean() > 0.005  # the start is not the goal's picture


def test_the_reach_goal_image_is_the_frame_of_the_target_reached():
    """The goal image is drawn after a controller drives the gripper to the target from Fetch's fixed start
    pose. Driving it so again from the episode's start gives that very frame, and counts as success: the
    goal image shows the task solved, and nothing else in it (no marker) differs."""
    task = make_env("fetch-reach-image")
    envs = HostEnvs(task, 1)
    frames, goals = envs.reset([(0, 3)])
    assert not envs.succeeded[0]
    for _ in range(10):
        grip = task.position(envs.envs[0], frames[0])
        frames = envs.step(np.r_[np.clip(10 * (envs.targets[0] - grip), -1, 1), 0.0][None])
    np.testing.assert_array_equal(frames[0], goals[0])
    assert envs.succeeded[0]


@pytest.mark.parametrize("name, marker", [("fetch-push-image", "target0"), ("sawyer-push-image", "goal")])
def test_the_goal_marker_is_hidden(name, marker):
    """The simulator's goal marker, placed in plain view, leaves the frame unchanged; made opaque there, it
    would show."""
    task = make_env(name)
    env = task.make(0)
    frame, _, _ = task.reset(env, np.random.default_rng(0))
    where = np.r_[task.position(env, frame), 0.45][:3] + [0.0, 0.0, 0.05]  # just above the object
    env.sim.data.site(marker).xpos[:] = where
    np.testing.assert_array_equal(env.frame(), frame)
    env.sim.model.site(marker).rgba[3] = 1.0
    assert (env.frame() != frame).any()


def _put_object_at(name: str, sim, target: np.ndarray) -> None:
    if name == "fetch-push-image":
        sim.data.joint("object0:joint").qpos[:2] = target
    else:
        sim._set_obj_xyz(np.r_[target, 0.05][:3])


@pytest.mark.parametrize("name", ["fetch-push-image", "sawyer-push-image", "sawyer-bin-image"])
def test_success_is_the_hidden_object_at_the_target(name):
    """Success reads the simulator, not the frames: an object moved onto its target succeeds at the next
    step, and none of the starts already does."""
    task = make_env(name)
    envs = HostEnvs(task, 4)
    envs.reset([(1, episode) for episode in range(4)])
    assert not envs.succeeded.any()
    _put_object_at(name, envs.envs[0].sim, envs.targets[0])
    envs.step(np.zeros((4, 4)))
    assert envs.succeeded.tolist() == [True, False, False, False]


def test_an_image_task_trains_through_the_host_loop_and_stores_its_frames(tmp_path):
    """fetch-reach-image through `crl train`: the quick preset's CNN agent, rounds of 2 copies x 50 steps
    and 5 updates.
    The replay holds the episodes as uint8 frames, each one the named episode replayed, with the goal
    image it was commanded."""
    run = tmp_path / "run"
    flags = (
        "--env fetch-reach-image --num-envs 2 --collect 100 --random-steps 100 --env-steps 200 "
        "--log-every 100 --checkpoint-every 200 --eval-every 0 --eval-episodes 2 --update-ratio 0.05 "
        "--agent.batch-size 8 --replay-size 2000 --no-progress"
    )
    args = ["train", *flags.split(), "--run-dir", str(run)]
    assert main(args) == 0
    config = read_config(run)
    assert config.agent.encoder == "nature"
    _, collector = Checkpoints(run / "checkpoints").restore(online_job(config, [0], []).template(), 200)
    replay = collector.replay
    assert replay.episode_observations.dtype == np.uint8 and replay.episode_goals.shape[1:] == IMAGE_SHAPE
    task = make_env("fetch-reach-image")
    episode = 3  # played by the policy, in the second round
    envs = HostEnvs(task, 1, seed=42)
    frames, goals = envs.reset([(0, episode)])
    np.testing.assert_array_equal(goals[0], np.asarray(replay.episode_goals[episode]))
    observations, actions = np.asarray(replay.episode_observations[episode]), replay.episode_actions[episode]
    for t in (0, 1, 2):
        np.testing.assert_array_equal(frames[0], observations[t])
        frames = envs.step(np.asarray(actions[t])[None])
    assert bool(replay.episode_acted[episode, 0])
