"""The robot tasks on the host: success definitions checked by scripted and random controllers."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("gymnasium_robotics", reason="the robot tasks need `pip install -e '.[test]'`")

from crl.envs import scripted  # noqa: E402
from crl.envs.robots import TASKS, HostEnvs, rollout_success  # noqa: E402

EPISODES = 40


@pytest.mark.parametrize("name", sorted(scripted.CONTROLLERS))
def test_a_scripted_controller_succeeds_and_a_random_one_does_not(name):
    task = TASKS[name]
    rng = np.random.default_rng(0)
    random = rollout_success(
        task, lambda s, g: rng.uniform(-1, 1, (len(s), task.action_dim)), EPISODES, seed=1
    )
    solved = rollout_success(task, scripted.CONTROLLERS[name], EPISODES, seed=1)
    assert solved >= 0.9, (name, solved)
    assert random <= 0.2, (name, random)


def test_goals_hold_the_target_where_the_state_holds_the_tracked_position():
    envs = HostEnvs(TASKS["fetch-push"], 2, seed=0)
    states, goals = envs.reset()
    assert states.shape == goals.shape == (2, 25)
    np.testing.assert_array_equal(goals[:, 0:3], envs.targets)  # the gripper should end at the block...
    np.testing.assert_array_equal(goals[:, 3:6], envs.targets)  # ...and the block at the target
    assert not goals[:, 6:].any()
    again = HostEnvs(TASKS["fetch-push"], 2, seed=0)
    np.testing.assert_array_equal(again.reset()[0], states)  # copies are seeded: reproducible batches


def test_a_missing_robot_package_is_one_line_with_the_install_command(monkeypatch):
    import sys

    from crl.errors import CrlError

    monkeypatch.setitem(sys.modules, "gymnasium_robotics", None)  # makes `import gymnasium_robotics` fail
    with pytest.raises(CrlError, match=r"fetch-reach needs gymnasium-robotics: pip install .*'\.\[robots\]'"):
        TASKS["fetch-reach"].make(0)
