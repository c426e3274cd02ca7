"""Online environments: JAX point mazes (acting fused into the compiled training loop), the robot tasks
on native MuJoCo (stepped on the host, `crl.envs.robots`), and OGBench's locomotion tasks for its dataset
experts (on the host, `crl.envs.locomotion`)."""

from __future__ import annotations

import difflib

from crl.envs.locomotion import EXPERT_TASKS, LocomotionTask
from crl.envs.point import MAPS, PointMaze
from crl.envs.point_images import PointMazeImages
from crl.envs.robot_images import image_tasks
from crl.envs.robots import TASKS, RobotTask
from crl.errors import CrlError

Env = PointMaze | RobotTask | LocomotionTask

# Each map twice: observed as its (row, col) position, and as 64x64 top-down images ("-image").
ENVS: dict[str, PointMaze] = {
    **{f"point-{name}": PointMaze(name, layout) for name, layout in MAPS.items()},
    **{f"point-{name}-image": PointMazeImages(name, layout) for name, layout in MAPS.items()},
}


# The robot tasks, observed as states and (the paper's image variants) as 64x64 images.
IMAGE_TASKS = image_tasks(TASKS)
HOST_TASKS: dict[str, RobotTask] = {**TASKS, **IMAGE_TASKS}


def names() -> list[str]:
    return [*ENVS, *HOST_TASKS, *EXPERT_TASKS]


def make_env(name: str) -> Env:
    """The online environment called `name`; one line naming the closest names when there is none.
    A robot task is its description: its simulator is made (and its package imported) when stepped."""
    if name in HOST_TASKS:
        return HOST_TASKS[name]
    if name in EXPERT_TASKS:
        return EXPERT_TASKS[name]
    if name not in ENVS:
        close = difflib.get_close_matches(name, names(), n=3, cutoff=0.5)
        hint = f"did you mean {' or '.join(close)}? " if close else ""
        raise CrlError(f"unknown environment '{name}': {hint}`crl envs list` names them all")
    return ENVS[name]


def on_host(env: Env) -> bool:
    """Whether the environment steps on the host (numpy) rather than inside the compiled loop."""
    return isinstance(env, RobotTask | LocomotionTask)
