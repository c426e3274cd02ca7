"""crl.envs.upstream: the run-time adaptations that let Fetch and Meta-World run on mujoco 4."""

from __future__ import annotations

import mujoco
import numpy as np
import pytest

from crl.envs import upstream

pytest.importorskip("gymnasium_robotics", reason="the robot tasks need `pip install -e '.[test]'`")
pytest.importorskip("metaworld", reason="the robot tasks need `pip install -e '.[test]'`")


def test_the_upstream_packages_still_need_their_adaptations():
    fixed = [name for name, needed in upstream.still_needed().items() if not needed]
    assert not fixed, (
        f"{fixed} now work on mujoco {mujoco.__version__}: delete their adaptation in crl.envs.upstream"
    )


JOINTS = """<mujoco><worldbody>
  <body><joint name="free" type="free"/><geom size=".1"/></body>
  <body><joint name="ball" type="ball"/><geom size=".1"/></body>
  <body><joint name="slide" type="slide"/><joint name="hinge" type="hinge"/><geom size=".1"/></body>
</worldbody></mujoco>"""


def test_joint_accessors_read_and_write_each_kind_of_joint_alone():
    model = mujoco.MjModel.from_xml_string(JOINTS)
    data = mujoco.MjData(model)
    widths = {"free": (7, 6), "ball": (4, 3), "slide": (1, 1), "hinge": (1, 1)}
    for name, (nq, nv) in widths.items():
        before_q, before_v = data.qpos.copy(), data.qvel.copy()
        upstream.set_joint_qpos(model, data, name, 10.0 + np.arange(nq))
        upstream.set_joint_qvel(model, data, name, -10.0 - np.arange(nv))
        np.testing.assert_array_equal(upstream.get_joint_qpos(model, data, name), 10.0 + np.arange(nq))
        np.testing.assert_array_equal(upstream.get_joint_qvel(model, data, name), -10.0 - np.arange(nv))
        assert (data.qpos != before_q).sum() == nq and (data.qvel != before_v).sum() == nv, name
    with pytest.raises(ValueError, match="joint 'elbow' is not part of the model"):
        upstream.get_joint_qpos(model, data, "elbow")


def test_fetch_and_sawyer_reset_and_follow_their_actions_once_adapted():
    import gymnasium as gym
    import gymnasium_robotics

    upstream.adapt()
    gym.register_envs(gymnasium_robotics)
    fetch = gym.make("FetchPush-v4", disable_env_checker=True)
    obs, _ = fetch.reset(seed=0)
    grip = obs["observation"][:3]
    for _ in range(5):
        obs, *_ = fetch.step(np.array([1.0, 0.0, 0.0, 0.0]))
    assert obs["observation"][0] > grip[0] + 0.05, "the gripper did not move along +x"

    sawyer = gym.make("Meta-World/MT1", env_name="push-v3", disable_env_checker=True)
    obs, _ = sawyer.reset(seed=0)
    welds = sawyer.unwrapped.model.eq_data[sawyer.unwrapped.model.eq_type == int(mujoco.mjtEq.mjEQ_WELD)]
    assert (welds[:, 6] == -1.0).all() and (welds[:, 10] == 5.0).all()
    hand = obs[:3]
    for _ in range(5):
        obs, *_ = sawyer.step(np.array([1.0, 0.0, 0.0, 0.0]))
    assert obs[0] > hand[0] + 0.01, "the Sawyer hand did not follow its mocap along +x"
