"""OGBench's pixel datasets made from its state datasets: `visual-cube-*`, `visual-scene-*` and
`visual-puzzle-*` hold the trajectories of the state dataset of the same name, observed as the 64x64
frames of the visual environment's `front_pixels` camera.

Each stored state (qpos, qvel, and for scene and puzzle the button states that colour the buttons) is
set in OGBench's own visual environment and rendered as that environment draws its observation there
(for cube, from the kinematics one physics step earlier: see `Renderer`), so a frame is what the
environment shows at that state: exactly, for states stored in float64 (a test steps the state and
visual environments side by side); OGBench stores float32 states, whose rounding moved 0.9% of pixels
by at most 2 levels (of 255) over 15 cube frames (a throwaway measurement, not a benchmark script).
Physics never reads colours, so the state and visual environments move identically: the trajectories
need no re-simulation.

Rendering is headless: MuJoCo's EGL backend (Mesa's llvmpipe on a CPU; `crl/__init__.py` chooses EGL
where there is no display). llvmpipe starts a thread per core for every renderer; parallel workers each
keep one (`LP_NUM_THREADS=1`: 1.1-1.2x the frames/s of two default workers on 2 cores), and a lone
renderer keeps llvmpipe's default (1.2-1.3x one thread). Shadows, reflections, the skybox and the
shadow map stay as OGBench draws them: every setting that renders faster also changes frames
(BENCHMARKS.md, "Rendering pixel datasets").
"""

from __future__ import annotations

import os
from importlib.metadata import version
from pathlib import Path

import mujoco
import numpy as np

from crl.data import manipspace
from crl.data.names import env_name
from crl.errors import cannot_render

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
        except Exception as exc:  # noqa: BLE001 -- MuJoCo raises several types when OpenGL is missing
            raise cannot_render(exc) from None
        self.has_buttons = hasattr(self.env, "_cur_button_states")
        # OGBench's cube environment draws each observation after a step from the kinematics mj_step
        # leaves behind: the positions one physics step (2 ms) before the state it returns (after a reset,
        # from the state's own). Scene and puzzle recompute them after every step (their button colouring
        # calls mj_forward). Frames follow each environment.
        self.step_behind = state_dataset(dataset).startswith("cube")

    def __call__(self, states: dict[str, np.ndarray], resets: np.ndarray | None = None) -> np.ndarray:
        """(N, 64, 64, 3) uint8 frames of the N states in `states` (qpos, qvel[, button_states]); `resets`
        marks the states a reset returned (each episode's first), the others followed a step."""
        frames, model = [], self.env._model
        for i in range(len(states["qpos"])):
            qpos, qvel = states["qpos"][i].astype(np.float64), states["qvel"][i].astype(np.float64)
            if self.step_behind and not (resets is not None and resets[i]):
                mujoco.mj_integratePos(model, qpos, qvel, -model.opt.timestep)  # undoes the step's last move
            args = [qpos, qvel]
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


def render_chunk(dataset: str, states: dict[str, np.ndarray], path: Path, one_thread: bool = False) -> int:
    """Render `states` into `path` (.npy, written atomically); returns the number of frames. `one_thread`:
    the process's renderer keeps one llvmpipe thread (faster when a worker shares the cores)."""
    if dataset not in _RENDERERS:
        if one_thread:
            os.environ["LP_NUM_THREADS"] = "1"  # read when the renderer's EGL context starts
        _RENDERERS[dataset] = Renderer(dataset)
    resets = np.concatenate([[True], states["terminals"][:-1] > 0])  # a chunk is whole episodes
    frames = _RENDERERS[dataset](states, resets)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as file:  # a file object: np.save would append .npy to the name
        np.save(file, frames)
    tmp.rename(path)
    return len(frames)
