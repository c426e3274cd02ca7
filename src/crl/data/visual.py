"""OGBench's pixel datasets made from its state datasets: `visual-cube-*`, `visual-scene-*` and
`visual-puzzle-*` hold the trajectories of the state dataset of the same name, observed as the 64x64
frames of the visual environment's `front_pixels` camera.

Each stored state (qpos, qvel, and for scene and puzzle the button states that colour the buttons) is
set in OGBench's own visual environment and rendered, so a frame is exactly what that environment
shows at that state (a test steps both environments side by side). Physics never reads colours, so the
state and visual environments move identically: the trajectories need no re-simulation.

Rendering is headless: MuJoCo's EGL backend (Mesa's llvmpipe on a CPU). llvmpipe starts one thread per
core for every renderer; parallel workers each keep one (`LP_NUM_THREADS=1`), which BENCHMARKS.md
("Rendering pixel datasets") measured to be the fast setting. Shadows, reflections and the skybox stay
as OGBench draws them: turning them off changes the frames (measured there).
"""

from __future__ import annotations

import os
from importlib.metadata import version
from pathlib import Path

import numpy as np

from crl.data import manipspace
from crl.data.names import env_name
from crl.errors import CrlError

VISUAL = "visual-"
STATE_KEYS = ("qpos", "qvel", "button_states")
FRAME_SHAPE = (64, 64, 3)


def state_dataset(dataset: str) -> str:
    """The state dataset whose trajectories a pixel dataset holds."""
    return dataset.removeprefix(VISUAL)


def can_render(dataset: str) -> bool:
    return dataset.startswith(VISUAL) and state_dataset(dataset) in manipspace.RECIPES


class Renderer:
    """OGBench's visual environment of `dataset`, used as a camera on stored states."""

    def __init__(self, dataset: str):
        import gymnasium
        import ogbench.manipspace  # noqa: F401  (registers the environments)

        self.env = gymnasium.make(env_name(dataset)).unwrapped
        try:
            self.env.reset(seed=0)  # renders the first observation
        except Exception as exc:  # MuJoCo raises several types when OpenGL is missing
            raise CrlError(
                f"MuJoCo cannot render here ({type(exc).__name__}: {exc}); install EGL (Debian: apt install "
                "libegl1) or OSMesa and set MUJOCO_GL=osmesa"
            ) from None
        self.has_buttons = hasattr(self.env, "_cur_button_states")

    def __call__(self, states: dict[str, np.ndarray]) -> np.ndarray:
        """(N, 64, 64, 3) uint8 frames of the N states in `states` (qpos, qvel[, button_states])."""
        frames = []
        for i in range(len(states["qpos"])):
            args = [states["qpos"][i], states["qvel"][i]]
            if self.has_buttons:
                args.append(states["button_states"][i])
            self.env.set_state(*args)
            frames.append(self.env.render())
        return np.stack(frames)


def renderer_versions() -> dict[str, str]:
    """What drew the frames, for the dataset's manifest."""
    return {
        "ogbench": version("ogbench"),
        "mujoco": version("mujoco"),
        "MUJOCO_GL": os.environ.get("MUJOCO_GL", ""),
    }


def frame_chunks(terminals: np.ndarray, rows: int) -> list[tuple[int, int]]:
    """(first row, end row) of runs of consecutive whole episodes, each but the last `rows` rows or more."""
    ends = np.flatnonzero(terminals) + 1
    chunks, start = [], 0
    for end in ends:
        if end - start >= rows or end == ends[-1]:
            chunks.append((start, int(end)))
            start = int(end)
    return chunks


_RENDERERS: dict[str, Renderer] = {}  # one per dataset, per process


def render_chunk(dataset: str, states: dict[str, np.ndarray], path: Path) -> int:
    """Render `states` into `path` (.npy, written atomically); returns the number of frames."""
    if dataset not in _RENDERERS:
        _RENDERERS[dataset] = Renderer(dataset)
    frames = _RENDERERS[dataset](states)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as file:  # a file object: np.save would append .npy to the name
        np.save(file, frames)
    tmp.rename(path)
    return len(frames)
