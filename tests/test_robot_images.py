"""The paper's image robot tasks: what the camera shows, what a goal image is, how success is judged, and
image runs through the host loop."""

from __future__ import annotations

import csv

import numpy as np
import pytest

pytest.importorskip("gymnasium_robotics", reason="the robot tasks need `pip install -e '.[test]'`")
pytest.importorskip("metaworld", reason="the robot tasks need `pip install -e '.[test]'`")

from crl.analysis.robustness import PERTURBATIONS, perturbed  # noqa: E402
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


@pytest.fixture(scope="module")
def push_run(tmp_path_factory):
    """fetch-push-image through `crl train`: the quick preset's CNN agent, rounds of 2 copies x 50 steps
    and 5 updates."""
    run = tmp_path_factory.mktemp("push") / "run"
    flags = (
        "--env fetch-push-image --num-envs 2 --collect 100 --random-steps 100 --env-steps 200 "
        "--log-every 100 --checkpoint-every 200 --eval-every 0 --eval-episodes 2 --update-ratio 0.05 "
        "--agent.batch-size 8 --replay-size 2000 --no-progress"
    )
    assert main(["train", *flags.split(), "--run-dir", str(run)]) == 0
    return run


def test_an_image_task_trains_through_the_host_loop_and_stores_its_frames(push_run):
    """The replay holds the episodes as uint8 frames, each one the named episode replayed, with the goal
    image it was commanded and, beside each frame, the block's position it shows (TD3 + HER's reward)."""
    run = push_run
    config = read_config(run)
    assert config.agent.encoder == "nature"
    _, collector = Checkpoints(run / "checkpoints").restore(online_job(config, [0], []).template(), 200)
    replay = collector.replay
    assert replay.episode_observations.dtype == np.uint8 and replay.episode_goals.shape[1:] == IMAGE_SHAPE
    task = make_env("fetch-push-image")
    episode = 3  # played by the policy, in the second round
    envs = HostEnvs(task, 1, seed=42)
    frames, goals = envs.reset([(0, episode)])
    np.testing.assert_array_equal(goals[0], np.asarray(replay.episode_goals[episode]))
    observations, actions = np.asarray(replay.episode_observations[episode]), replay.episode_actions[episode]
    for t in (0, 1, 2):
        np.testing.assert_array_equal(frames[0], observations[t])
        np.testing.assert_allclose(replay.episode_coords[episode, t], envs.positions(frames)[0], atol=1e-6)
        frames = envs.step(np.asarray(actions[t])[None])
    assert bool(replay.episode_acted[episode, 0])


def _episode(task, perturbation=None):
    task = task if perturbation is None else perturbed(task, perturbation)
    envs = HostEnvs(task, 1, seed=3)
    frames, goals = envs.reset([(0, 1)])
    sim = envs.envs[0].sim
    grip, block = sim.data.site("robot0:grip").xpos.copy(), sim.data.joint("object0:joint").qpos[:3].copy()
    return frames[0], goals[0], envs.targets[0].copy(), grip, block


def test_each_perturbation_changes_only_what_it_names():
    """F.5's variants of fetch-push-image: the same episode (target, block, goal) with the object red, the
    table yellow, or the gripper starting 10 cm toward the camera (and its goal image unchanged)."""
    task = make_env("fetch-push-image")
    frame, goal, target, grip, block = _episode(task)

    def red(image):
        return ((image[..., 0] > 150) & (image[..., 1] < 60) & (image[..., 2] < 60)).mean()

    def yellow(image):
        return ((image[..., 0] > 180) & (image[..., 1] > 150) & (image[..., 2] < 80)).mean()

    red_frame, red_goal, red_target, *_ = _episode(task, "object red")
    assert red(goal) == 0 and red(red_goal) > 0.002 and np.array_equal(red_target, target)
    assert yellow(frame) == 0 and yellow(_episode(task, "table yellow")[0]) > 0.3
    moved_frame, moved_goal, moved_target, moved_grip, moved_block = _episode(task, "arm toward camera")
    np.testing.assert_array_equal(moved_goal, goal)
    np.testing.assert_allclose(moved_block, block, atol=0.01)
    assert moved_grip[1] < grip[1] - 0.04 and abs(moved_grip[0] - grip[0]) < 0.06
    assert not np.array_equal(moved_frame, frame)


def test_robustness_evaluates_the_run_on_every_perturbation(push_run, tmp_path, capsys):
    out = tmp_path / "out"
    assert (
        main(["analyze", "robustness", str(push_run), "--trials", "2", "--repeats", "2", "--out", str(out)])
        == 0
    )
    with (out / "robustness.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [(r["perturbation"], r["repeat"]) for r in rows] == [
        (p, str(k)) for p in PERTURBATIONS for k in (0, 1)
    ]
    assert {float(r["success"]) for r in rows} <= {0.0, 0.5, 1.0}
    printed = capsys.readouterr().out
    assert all(f"{p}: " in printed for p in PERTURBATIONS) and (out / "robustness.png").exists()
    assert main(["analyze", "robustness", str(push_run), "--trials", "0"]) == 2
