"""Online environments: JAX point mazes (acting fused into the compiled training loop)."""

from __future__ import annotations

import difflib

from crl.envs.point import MAPS, PointMaze, point_maze
from crl.errors import CrlError

ENVS: dict[str, str] = {f"point-{name}": name for name in MAPS}


def names() -> list[str]:
    return list(ENVS)


def make_env(name: str) -> PointMaze:
    """The online environment called `name`; one line naming the closest names when there is none."""
    if name not in ENVS:
        close = difflib.get_close_matches(name, ENVS, n=3, cutoff=0.5)
        hint = f"did you mean {' or '.join(close)}? " if close else ""
        raise CrlError(f"unknown environment '{name}': {hint}`crl envs list` names them all")
    return point_maze(ENVS[name])
