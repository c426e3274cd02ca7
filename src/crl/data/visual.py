"""OGBench's pixel datasets made from its state datasets: `visual-cube-*`, `visual-scene-*`,
`visual-puzzle-*`, `visual-antmaze-*` and `visual-humanoidmaze-*` hold the trajectories of the state
dataset of the same name, observed as the 64x64 frames of the visual environment's camera.

Each frame is drawn as OGBench's own visual environment draws its observation at that row, so a frame is
what the environment shows there: exactly, for states stored in float64 (tests step the state and visual
environments side by side).
- Manipulation: each stored state (qpos, qvel, and for scene and puzzle the button states that colour the
  buttons) is set and rendered (for cube, from the kinematics one physics step earlier: `ManipRenderer`).
  OGBench stores float32 states, whose rounding moved 0.9% of pixels by at most 2 levels (of 255) over 15
  cube frames (a throwaway measurement, not a benchmark script).
- Mazes: the ant and humanoid integrate with several sub-steps (RK4 for the ant), and the frame after a
  step shows the kinematics of its last sub-step, which the stored next state cannot give back; so each
  step is replayed from the stored previous state and action (`MazeRenderer`). float32 rounding moved at
  most 0.01% of pixels (ant: by 1 level; humanoid: up to 43) over 60 steps (a throwaway measurement).
Physics never reads colours, so the state and visual environments move identically: the trajectories
need no re-simulation beyond that one step.

Rendering is headless: MuJoCo's EGL backend (Mesa's llvmpipe on a CPU; `crl/__init__.py` chooses EGL
where there is no display). llvmpipe starts a thread per core for every renderer. Parallel workers on the
manipulation scenes each keep one (`LP_NUM_THREADS=1`: 1.1-1.2x the frames/s of two default workers on 2
cores); the maze scenes render faster with llvmpipe's default threads (1.1-1.6x), as does a lone
renderer. Shadows, reflections, the skybox and the shadow map stay as OGBench draws them: every setting
that renders faster also changes frames (BENCHMARKS.md, "Rendering pixel datasets").
"""

from __future__ import annotations

import os
from importlib.metadata import version
from pathlib import Path

import mujoco
import numpy as np

from crl.data import locomaze, manipspace
from crl.data.names import env_name
from crl.errors import cannot_render

VISUAL = "visual-"
STATE_KEYS = ("qpos", "qvel", "button_states", "actions")  # what the renderers read of a row
FRAME_SHAPE = (64, 64, 3)


def state_dataset(dataset: str) -> str:
    """The state dataset whose trajectories a pixel dataset holds."""
    return dataset.removeprefix(VISUAL)


def can_render(dataset: str) -> bool:
    if not dataset.startswith(VISUAL):
        return False
    source = state_dataset(dataset)
    maze = locomaze.RECIPES.get(source)
    return source in manipspace.RECIPES or (
        maze is not None and maze.robot != "point"
    )  # OGBench's visual set


def make_renderer(dataset: str) -> ManipRenderer | MazeRenderer:
    """The camera on stored states for `dataset`'s visual environment."""
    return (MazeRenderer if state_dataset(dataset) in locomaze.RECIPES else ManipRenderer)(dataset)


def _visual_env(dataset: str, module: str):
    import importlib

    import gymnasium

    importlib.import_module(module)  # registers the environments
    env = gymnasium.make(env_name(dataset)).unwrapped
    try:
        env.reset(seed=0)  # renders the first observation
    except Exception as exc:  # noqa: BLE001 -- MuJoCo raises several types when OpenGL is missing
        raise cannot_render(exc) from None
    return env


class MazeRenderer:
    """OGBench's visual antmaze or humanoidmaze environment, replaying each step of stored episodes."""

    def __init__(self, dataset: str):
        self.env = _visual_env(dataset, "ogbench.locomaze")

    def __call__(self, states: dict[str, np.ndarray], resets: np.ndarray) -> np.ndarray:
        """(N, 64, 64, 3) uint8 frames of N consecutive rows of whole episodes (qpos, qvel, actions);
        `resets` marks each episode's first row, which a reset returned (drawn from its own state: the
        reset's final `set_xy` recomputes the kinematics). Any other row's frame is the observation of the
        step from the row before it. A teleport happens after the step has drawn its frame, so its random
        destination never shows."""
        frames = []
        for i in range(len(states["qpos"])):
            if resets[i]:
                self.env.set_state(*(states[k][i].astype(np.float64) for k in ("qpos", "qvel")))
                frames.append(self.env.render())
            else:
                self.env.set_state(*(states[k][i - 1].astype(np.float64) for k in ("qpos", "qvel")))
                frames.append(self.env.step(states["actions"][i - 1].astype(np.float64))[0])
        return np.stack(frames)


class ManipRenderer:
    """OGBench's visual environment of `dataset`, used as a camera on stored states."""

    def __init__(self, dataset: str):
        self.env = _visual_env(dataset, "ogbench.manipspace")
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


_RENDERERS: dict[str, ManipRenderer | MazeRenderer] = {}  # one per dataset, per process


def render_chunk(dataset: str, states: dict[str, np.ndarray], path: Path, shared: bool = False) -> int:
    """Render `states` into `path` (.npy, written atomically); returns the number of frames. `shared`: other
    workers share the cores (a manipulation scene's renderer then keeps one llvmpipe thread)."""
    if dataset not in _RENDERERS:
        if shared and state_dataset(dataset) in manipspace.RECIPES:
            os.environ["LP_NUM_THREADS"] = "1"  # read when the renderer's EGL context starts
        _RENDERERS[dataset] = make_renderer(dataset)
    resets = np.concatenate([[True], states["terminals"][:-1] > 0])  # a chunk is whole episodes
    frames = _RENDERERS[dataset](states, resets)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as file:  # a file object: np.save would append .npy to the name
        np.save(file, frames)
    tmp.rename(path)
    return len(frames)
