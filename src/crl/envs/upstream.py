"""Run-time adaptations that let gymnasium-robotics (Fetch) and Meta-World (Sawyer) run on mujoco 4.

crl keeps mujoco at the version ogbench's data generation uses (so generated datasets keep their
checksums), and two upstream packages have not caught up with it. Nothing installed is edited: `adapt()`
swaps in crl's own versions of the broken functions, once per process, before a robot environment is made.

- gymnasium-robotics 1.4.2 `mujoco_utils.{get,set}_joint_{qpos,qvel}` test `joint_type in (mjJNT_HINGE,
  mjJNT_SLIDE)`: mujoco's enum no longer equals the numpy int32 that `model.jnt_type` holds, so every
  slide or hinge joint fails an assertion (Fetch resets its slide joints).
- Meta-World 3.0.0 `SawyerMocapBase.reset_mocap_welds` writes its 11 weld parameters into a weld's
  `eq_data` row, which mujoco 4 made 12 long (a ValueError at construction). The 12th entry is new and
  keeps mujoco's default.

`still_needed()` runs the upstream originals on a tiny model; tests/test_upstream.py fails once either
works unchanged, which says the adaptation can go.
"""

from __future__ import annotations

import contextlib
import io
from types import SimpleNamespace

import mujoco
import numpy as np

_QPOS_WIDTH = {mujoco.mjtJoint.mjJNT_FREE: 7, mujoco.mjtJoint.mjJNT_BALL: 4}
_QVEL_WIDTH = {mujoco.mjtJoint.mjJNT_FREE: 6, mujoco.mjtJoint.mjJNT_BALL: 3}  # slide, hinge: 1 each

# Meta-World's weld: no anchor or offset, relative quaternion (-1, 0, 0, 0), torque scale 5.
_SAWYER_WELD = np.array([0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -1.0, 0.0, 0.0, 0.0, 5.0])

_originals: dict[str, object] = {}


def _joint_slice(model: mujoco.MjModel, name: str, velocity: bool) -> slice:
    joint = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, name)
    if joint == -1:
        raise ValueError(f"joint '{name}' is not part of the model")
    kind = mujoco.mjtJoint(int(model.jnt_type[joint]))  # the enum, so that lookups compare like with like
    start = (model.jnt_dofadr if velocity else model.jnt_qposadr)[joint]
    return slice(start, start + (_QVEL_WIDTH if velocity else _QPOS_WIDTH).get(kind, 1))


def get_joint_qpos(model, data, name):
    return data.qpos[_joint_slice(model, name, False)].copy()


def set_joint_qpos(model, data, name, value):
    data.qpos[_joint_slice(model, name, False)] = value


def get_joint_qvel(model, data, name):
    return data.qvel[_joint_slice(model, name, True)].copy()


def set_joint_qvel(model, data, name, value):
    data.qvel[_joint_slice(model, name, True)] = value


_JOINT_FUNCTIONS = {"get_joint_qpos": get_joint_qpos, "set_joint_qpos": set_joint_qpos,
                    "get_joint_qvel": get_joint_qvel, "set_joint_qvel": set_joint_qvel}  # fmt: skip


def reset_sawyer_mocap_welds(env) -> None:
    """Meta-World's weld reset, written into the weld parameters mujoco 4 shares with mujoco 3."""
    model = env.model
    if model.nmocap > 0 and model.eq_data is not None:
        welds = model.eq_type == int(mujoco.mjtEq.mjEQ_WELD)
        model.eq_data[welds, : len(_SAWYER_WELD)] = _SAWYER_WELD


def adapt() -> None:
    """Install the adaptations into whichever of gymnasium-robotics and Meta-World are installed."""
    try:
        with contextlib.redirect_stderr(io.StringIO()):  # its import prints a notice on Adroit hands
            from gymnasium_robotics.utils import mujoco_utils
    except ImportError:
        mujoco_utils = None
    if mujoco_utils is not None and "mujoco_utils" not in _originals:
        _originals["mujoco_utils"] = {n: getattr(mujoco_utils, n) for n in _JOINT_FUNCTIONS}
        for name, fn in _JOINT_FUNCTIONS.items():
            setattr(mujoco_utils, name, fn)
    try:
        from metaworld.sawyer_xyz_env import SawyerMocapBase
    except ImportError:
        return
    if "metaworld" not in _originals:
        _originals["metaworld"] = SawyerMocapBase.reset_mocap_welds
        SawyerMocapBase.reset_mocap_welds = reset_sawyer_mocap_welds


_PROBE = """<mujoco><worldbody>
  <body mocap="true" name="hand"/>
  <body name="arm"><joint name="slide" type="slide"/><geom size=".1"/></body>
</worldbody><equality><weld body1="hand" body2="arm"/></equality></mujoco>"""


def still_needed() -> dict[str, bool]:
    """For each upstream package installed: whether its original function still fails on mujoco's
    current version (False: upstream works, and its adaptation can be deleted)."""
    from gymnasium_robotics.utils import mujoco_utils
    from metaworld.sawyer_xyz_env import SawyerMocapBase

    model = mujoco.MjModel.from_xml_string(_PROBE)
    data = mujoco.MjData(model)
    set_qpos = _originals.get("mujoco_utils", {}).get("set_joint_qpos", mujoco_utils.set_joint_qpos)
    reset_welds = _originals.get("metaworld", SawyerMocapBase.reset_mocap_welds)
    return {
        "gymnasium-robotics": _fails(lambda: set_qpos(model, data, "slide", 0.5)),
        "metaworld": _fails(lambda: reset_welds(SimpleNamespace(model=model))),
    }


def _fails(call) -> bool:
    try:
        call()
    except (AssertionError, ValueError):
        return True
    return False
