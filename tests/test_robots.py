"""The robot tasks on the host: success definitions checked by scripted and random controllers."""

from __future__ import annotations

import os

import numpy as np
import pytest

pytest.importorskip("gymnasium_robotics", reason="the robot tasks need `pip install -e '.[test]'`")

from crl.envs import scripted  # noqa: E402
from crl.envs.robots import TASKS, HostEnvs, rollout_success  # noqa: E402

EPISODES = 40
ANT_EPISODES = 40 if os.environ.get("CRL_TEST_SCALE") == "full" else 12  # 700-step episodes: CI runs fewer


SLOW_TASKS = {"ant-umaze"}
TASK_NAMES = [
    pytest.param(n, marks=[pytest.mark.slow] * (n in SLOW_TASKS)) for n in sorted(scripted.CONTROLLERS)
]


@pytest.mark.parametrize("name", TASK_NAMES)
def test_a_scripted_controller_succeeds_and_a_random_one_does_not(name):
    task = TASKS[name]
    episodes = ANT_EPISODES if name in SLOW_TASKS else EPISODES
    random = rollout_success(task, scripted.random_actions(task.action_dim), episodes, seed=1)
    solved = rollout_success(task, scripted.CONTROLLERS[name](), episodes, seed=1)
    assert solved >= 0.9, (name, solved)
    assert random <= 0.2, (name, random)


def test_goals_hold_the_target_where_the_state_holds_the_tracked_position():
    envs = HostEnvs(TASKS["fetch-push"], 2, seed=0)
    states, goals = envs.reset([(0, 0), (0, 1)])
    assert states.shape == goals.shape == (2, 25)
    np.testing.assert_array_equal(goals[:, 0:3], envs.targets)  # the gripper should end at the block...
    np.testing.assert_array_equal(goals[:, 3:6], envs.targets)  # ...and the block at the target
    assert not goals[:, 6:].any()
    again = HostEnvs(TASKS["fetch-push"], 2, seed=7)
    np.testing.assert_array_equal(again.reset([(0, 0), (0, 1)])[0], states)  # an episode is its seed's
    assert not np.array_equal(again.reset([(0, 2), (0, 3)])[0], states)


@pytest.mark.parametrize("name", ["sawyer-push", "sawyer-bin"])
def test_sawyer_goals_and_starts_follow_the_papers_code(name):
    """Push: [target, target, 0.5], the puck on the table at least 15 cm from the target. Bin: [target +
    3 cm up, 0.4, target], the target between the object and the target bin, 3-12 cm above the table."""
    task = TASKS[name]
    envs = HostEnvs(task, 16, seed=0)
    states, goals = envs.reset([(3, i) for i in range(16)])
    assert states.shape == goals.shape == (16, 7)
    targets = envs.targets
    if name == "sawyer-push":
        np.testing.assert_array_equal(goals[:, 0:3], targets)
        np.testing.assert_array_equal(goals[:, 3:6], targets)
        assert (goals[:, 6] == 0.5).all()
        assert (np.linalg.norm(states[:, 3:5] - targets[:, :2], axis=1) >= 0.15).all()
        np.testing.assert_allclose(targets[:, 2], states[:, 5], atol=1e-3)  # the goal is on the table
    else:
        np.testing.assert_allclose(goals[:, 0:3], targets + [0, 0, 0.03], atol=1e-6)
        assert (goals[:, 3] == np.float32(0.4)).all()
        np.testing.assert_array_equal(goals[:, 4:7], targets)
        assert ((targets[:, 2] >= 0.03) & (targets[:, 2] <= 0.12)).all()
        assert (targets[:, 0] >= states[:, 4] - 1e-6).all() and (targets[:, 0] <= 0.17 + 1e-6).all()


def test_a_goal_of_the_first_k_coordinates_is_reached_by_moving_just_them():
    """sawyer-push-goalK (F.2): the same episodes as sawyer-push, the goal cut to the state's first K
    coordinates. Driving the gripper to the target solves K = 1 and 3 (gripper x, position), not K = 7
    (which also asks for the puck there), and the final distance measures the K coordinates alone."""
    full = HostEnvs(TASKS["sawyer-push"], 1, seed=0)
    start, goal = full.reset([(4, 0)])
    hand_target = goal[0, :3]
    for k, solved in ((1, True), (3, True), (7, False)):
        task = TASKS[f"sawyer-push-goal{k}"]
        envs = HostEnvs(task, 1, seed=0)
        states, goals = envs.reset([(4, 0)])
        np.testing.assert_array_equal(states, start)
        np.testing.assert_array_equal(goals[0], goal[0, :k])
        assert task.goal_shape == (k,) and task.goal_indices == tuple(range(k))
        for _ in range(60):
            states = envs.step(np.r_[np.clip(10 * (hand_target - states[0, :3]), -1, 1), 0.0][None])
        distance = np.linalg.norm(states[0, :k] - goal[0, :k])
        np.testing.assert_allclose(envs.distances(states), [distance], rtol=1e-5)
        assert bool(envs.succeeded[0]) == solved == bool(distance <= 0.05)


def test_ant_umaze_goals_are_xy_in_the_u_cells_other_than_the_start():
    task = TASKS["ant-umaze"]
    envs = HostEnvs(task, 24, seed=0)
    states, goals = envs.reset([(5, i) for i in range(24)])
    assert states.shape == (24, 29) and goals.shape == (24, 2) and task.goal_shape == (2,)
    # gymnasium-robotics' frame: 4 m cells, cell (row, col) centred at x = 4 (col - 2), y = 4 (2 - row).
    cells = {(int(round(2 - y / 4)), int(round(x / 4 + 2))) for x, y in goals}
    assert cells <= {(1, 2), (1, 3), (2, 3), (3, 1), (3, 2), (3, 3)} and len(cells) >= 4
    starts = {(int(round(2 - y / 4)), int(round(x / 4 + 2))) for x, y in states[:, :2]}
    assert (1, 1) in starts and len(starts) >= 3  # half start in the start cell, half in a goal cell


def test_a_missing_robot_package_is_one_line_with_the_install_command(monkeypatch):
    import sys

    from crl.errors import CrlError

    monkeypatch.setitem(sys.modules, "gymnasium_robotics", None)  # makes `import gymnasium_robotics` fail
    with pytest.raises(CrlError, match=r"fetch-reach needs gymnasium-robotics: pip install .*'\.\[robots\]'"):
        TASKS["fetch-reach"].make(0)
