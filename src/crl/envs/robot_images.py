"""The CRL paper's image robot tasks (App. E): Fetch and Sawyer observed through a 64x64 camera, with goals
that are images of the task solved.

Each follows the paper's code for its image variant (google-research `contrastive_rl`, `fetch_envs.py` and
`env_utils.py`), which has its own start and goal distributions: a scripted controller first puts the arm
(reach) or the object (push, bin) at the goal and that frame is the goal image; the episode then restarts
from its start distribution. Success is measured on the simulator's hidden state, as there (5 cm).

| task              | camera (as in the paper's code)          | goal image                | success | steps
| fetch-reach-image | free: at (1.2, .8, .5), .8 m, az 180, el -30 | gripper driven to target | grip xyz | 50
| fetch-push-image  | free: at (1.25, .8, .4), .65 m, az 90, el -40 | block where reset put it | block xy | 50
| sawyer-push-image | corner2 at (.7, .65, .1), fovy 45, level | puck moved U(+-.1), U(0,.25) | puck xyz | 150
| sawyer-bin-image  | corner2 at (1.3, -.05, .9), fovy 14      | object held over target bin  | obj. xy | 150

Starts: Fetch reach from Fetch's reset pose; Fetch push with the block at (1.15, .75) and the gripper
just behind it; Sawyer with the hand on the object (push: the puck 20 cm nearer the robot than
Meta-World places it). Goal markers and Fetch's mocap
"lasers" are hidden. The paper's Sawyer frames are corner2's rows in reverse (mujoco-py returns them
bottom-up and its code flips other cameras only); crl flips them too, so both show the table below.
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from crl.envs.robots import _SEED_RANGE, RobotTask, SawyerTask
from crl.errors import EnvironmentFailure, cannot_render

IMAGE_SHAPE = (64, 64, 3)
# Meta-World's models ask for a 4096 x 4096 shadow map, drawn for every 64x64 frame: 1024 steps Sawyer
# 1.8-2.5x faster on a CPU and moves 1-3% of pixels, at shadow edges (benchmarks/robot_images.py). Fetch
# casts no shadows.
SHADOW_MAP = 1024
_FREE, _FIXED = "free", "fixed"


@dataclass(frozen=True)
class View:
    """A camera: `free` looks at `lookat` from `distance`, `azimuth`, `elevation` (degrees); `fixed` is the
    model's camera `name` moved to `pos` (and turned to `quat`, w x y z, when given) with field `fovy`."""

    kind: str
    lookat: tuple[float, ...] = ()
    distance: float = 0.0
    azimuth: float = 0.0
    elevation: float = 0.0
    name: str = ""
    pos: tuple[float, ...] = ()
    quat: tuple[float, ...] | None = None
    fovy: float = 0.0
    flip: bool = False  # reverse the rows (see the module's docstring)
    hidden_geoms: tuple[int, ...] = ()  # drawn transparent, as the paper's code hides them
    hidden_sites: tuple[str, ...] = ()


class Camera:
    """One copy's simulator and the renderer that draws it as the task's camera sees it."""

    def __init__(self, sim, view: View, size: int = IMAGE_SHAPE[0]):
        self.sim, self.view = sim, view
        model = sim.model
        model.vis.quality.shadowsize = SHADOW_MAP
        model.geom_rgba[list(view.hidden_geoms), 3] = 0.0
        for site in view.hidden_sites:
            model.site(site).rgba[3] = 0.0
        if view.kind == _FREE:
            self.camera = mujoco.MjvCamera()
            self.camera.type = mujoco.mjtCamera.mjCAMERA_FREE
            self.camera.lookat[:] = view.lookat
            self.camera.distance, self.camera.azimuth = view.distance, view.azimuth
            self.camera.elevation = view.elevation
        else:
            camera = model.camera(view.name)
            camera.pos[:], camera.fovy[:] = view.pos, view.fovy
            if view.quat is not None:
                camera.quat[:] = view.quat
            self.camera = camera.id
        try:
            self.renderer = mujoco.Renderer(model, size, size)
        except Exception as exc:  # noqa: BLE001 -- MuJoCo raises several types when OpenGL is missing
            raise cannot_render(exc) from None

    def frame(self) -> np.ndarray:
        self.renderer.update_scene(self.sim.data, camera=self.camera)
        image = self.renderer.render()
        return np.ascontiguousarray(image[::-1]) if self.view.flip else image


@dataclass(frozen=True)
class ImageTask(RobotTask):
    """A robot task observed as 64x64 frames: `state_task` builds and steps the simulator, and success
    compares `position` (read from the simulator) with the target; `tracked_dims` only sizes them."""

    state_task: RobotTask | None = None
    view: View | None = None

    @property
    def obs_shape(self) -> tuple[int, ...]:
        return IMAGE_SHAPE

    def make(self, seed: int) -> Camera:
        return Camera(self.state_task.make(seed), self.view)

    def step(self, env: Camera, action: np.ndarray) -> np.ndarray:
        self.state_task.step(env.sim, action)
        return env.frame()

    def position(self, env: Camera, observation: np.ndarray) -> np.ndarray:
        raise NotImplementedError


def _retry(task: str, attempt, tries: int = 10):
    """The paper's code redraws a reset that knocked the block off the table; crl stops after `tries`."""
    for _ in range(tries):
        result = attempt()
        if result is not None:
            return result
    raise EnvironmentFailure(f"{task}: {tries} resets in a row knocked the block off the table")


# --- Fetch ------------------------------------------------------------------------------------------

_FETCH_LASERS = (1, 2, 3, 4)  # the mocap body's translucent green geoms


@dataclass(frozen=True)
class FetchImageTask(ImageTask):
    def _reset(self, env: Camera, rng: np.random.Generator) -> dict:
        return env.sim.reset(seed=int(rng.integers(_SEED_RANGE)))[0]


@dataclass(frozen=True)
class FetchReachImage(FetchImageTask):
    def reset(self, env, rng):
        raw = self._reset(env, rng)
        target = raw["desired_goal"].astype(np.float32)
        for _ in range(10):  # a proportional controller drives the gripper to the target
            delta = target - raw["achieved_goal"]
            raw = env.sim.step(np.r_[np.clip(10 * delta, -1, 1), 0.0])[0]
        goal = env.frame()
        self._reset(env, rng)
        return env.frame(), goal, target

    def position(self, env, observation):
        return env.sim.data.site("robot0:grip").xpos.astype(np.float32)


_BLOCK_START = (1.15, 0.75)
_BEHIND_BLOCK = (-0.02, 0.0, 0.0)  # where the gripper starts, from the block


@dataclass(frozen=True)
class FetchPushImage(FetchImageTask):
    # Perturbations of the robustness study (CRL paper F.5; `crl analyze robustness`): bodies drawn in
    # another colour, and the gripper's start moved (the goal images keep the original).
    recolour: tuple[tuple[str, tuple[float, float, float, float]], ...] = ()
    start_offset: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def make(self, seed: int) -> Camera:
        env = super().make(seed)
        model = env.sim.model
        for body, rgba in self.recolour:  # a geom's own colour overrides its material's
            model.geom_rgba[model.geom_bodyid == model.body(body).id] = rgba
        return env

    def reset(self, env, rng):
        def goal_attempt():
            self._start(env, rng, block_xy=None, grip=_BEHIND_BLOCK)  # the block where the reset drew it
            block = self._block(env)
            return (env.frame(), block[:2].astype(np.float32)) if block[2] >= 0.4 else None

        def start_attempt():
            self._start(env, rng, _BLOCK_START, np.add(_BEHIND_BLOCK, self.start_offset))
            if any(self.start_offset):  # the gripper may have brushed the block on its way there
                block = env.sim.data.joint("object0:joint")
                block.qpos[:2], block.qvel[:] = _BLOCK_START, 0.0
                mujoco.mj_forward(env.sim.model, env.sim.data)
            return env.frame() if self._block(env)[2] >= 0.4 else None

        goal, target = _retry(self.name, goal_attempt)
        return _retry(self.name, start_attempt), goal, target

    def _start(self, env: Camera, rng, block_xy, grip) -> None:
        """Reset, pull the gripper back, place the block, and bring the gripper to `grip` from it."""
        self._reset(env, rng)
        for _ in range(8):
            env.sim.step(np.array([-1.0, 0.0, 0.0, 0.0]))
        if block_xy is not None:
            env.sim.data.joint("object0:joint").qpos[:2] = block_xy
        for _ in range(100):
            delta = self._block(env) + grip - env.sim.data.site("robot0:grip").xpos
            if np.linalg.norm(delta) < 0.06:
                break
            env.sim.step(np.r_[np.clip(delta, -1, 1), 0.0])

    @staticmethod
    def _block(env: Camera) -> np.ndarray:
        return env.sim.data.joint("object0:joint").qpos[:3].copy()

    def position(self, env, observation):
        return self._block(env)[:2].astype(np.float32)


# --- Sawyer -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SawyerImageTask(ImageTask):
    @staticmethod
    def _hold(sim, hand_at: np.ndarray, grip: float) -> None:
        """One step with the mocap (the hand's target) at `hand_at` and the gripper commanded to `grip`."""
        sim.data.mocap_pos[0] = hand_at
        sim.do_simulation([grip, -grip], n_frames=sim.frame_skip)

    def position(self, env, observation):
        """The object's xyz (push) or xy (bin, whose success ignores height): its first len(tracked_dims)."""
        return env.sim.get_body_com("obj").astype(np.float32)[: len(self.tracked_dims)]


@dataclass(frozen=True)
class SawyerPushImage(SawyerImageTask):
    def reset(self, env, rng):
        sim = env.sim
        self._place(sim, rng)
        goal_xyz = sim.get_body_com("obj").copy() + [rng.uniform(-0.1, 0.1), rng.uniform(0.0, 0.25), 0.0]
        for _ in range(200):  # the hand settles on the puck, held at the goal
            sim._set_obj_xyz(goal_xyz)
            self._hold(sim, sim.get_body_com("obj"), -1.0)
        goal = env.frame()
        self._place(sim, rng)
        sim._set_obj_xyz(sim.get_body_com("obj") + [0.0, -0.2, 0.0])
        self._hold(sim, sim.data.mocap_pos[0].copy(), -1.0)
        for _ in range(20):
            self._hold(sim, sim.get_body_com("obj"), -1.0)
        return env.frame(), goal, goal_xyz.astype(np.float32)

    @staticmethod
    def _place(sim, rng) -> None:
        """Meta-World's reset, with the puck uniform over push-v3's start range."""
        SawyerTask._place(sim, np.r_[rng.uniform([-0.1, 0.6], [0.1, 0.7]), 0.02, 0.0, 0.85, 0.02])


@dataclass(frozen=True)
class SawyerBinImage(SawyerImageTask):
    def reset(self, env, rng):
        sim = env.sim
        self._place(sim, rng)
        held = sim.data.body("bin_goal").xpos.copy()
        held[:2] += rng.uniform(-0.05, 0.05, 2)
        held[2] = 0.05
        sim._set_obj_xyz(held)
        hand_at = held + [0.0, 0.0, rng.uniform(0.0, 0.05)]
        for t in range(40):  # reach the object, then close the gripper on it
            self._hold(sim, hand_at, 1.0 if t > 20 else 0.0)
        target = sim.get_body_com("obj")[:2].astype(np.float32)
        goal = env.frame()
        self._place(sim, rng)
        above = sim.get_body_com("obj") + [0.0, 0.0, 0.05]
        for _ in range(40):
            self._hold(sim, above, 0.0)
        return env.frame(), goal, target

    @staticmethod
    def _place(sim, rng) -> None:
        """Meta-World's reset, with the object uniform over bin-picking-v3's start range."""
        SawyerTask._place(sim, np.r_[rng.uniform([-0.21, 0.65], [-0.03, 0.75]), 0.02, 0.12, 0.7, 0.0])


def _fetch_view(lookat, distance, azimuth, elevation) -> View:
    return View(_FREE, lookat=lookat, distance=distance, azimuth=azimuth, elevation=elevation,
                hidden_geoms=_FETCH_LASERS, hidden_sites=("target0",))  # fmt: skip


def _corner2(pos, fovy, quat=None, hidden_sites=()) -> View:
    return View(_FIXED, name="corner2", pos=pos, fovy=fovy, quat=quat, flip=True, hidden_sites=hidden_sites)


def image_tasks(state: dict[str, RobotTask]) -> dict[str, ImageTask]:
    """The image tasks, each built on the state task of its robot."""
    pixels = int(np.prod(IMAGE_SHAPE))
    # Level, looking along +y: the paper's Euler angles (-pi/2, pi/2, 0) as a quaternion (w, x, y, z).
    level = (0.5, -0.5, 0.5, -0.5)
    tasks = (
        FetchReachImage("fetch-reach-image", "gymnasium-robotics FetchReach-v4, 64x64 images", pixels, 4, 50,
                        tracked_dims=(0, 1, 2), state_task=state["fetch-reach"],
                        view=_fetch_view((1.2, 0.8, 0.5), 0.8, 180.0, -30.0)),
        FetchPushImage("fetch-push-image", "gymnasium-robotics FetchPush-v4, 64x64 images", pixels, 4, 50,
                       tracked_dims=(0, 1), state_task=state["fetch-push"],
                       view=_fetch_view((1.25, 0.8, 0.4), 0.65, 90.0, -40.0)),
        SawyerPushImage("sawyer-push-image", "Meta-World push-v3, 64x64 images", pixels, 4, 150,
                        tracked_dims=(0, 1, 2), state_task=state["sawyer-push"],
                        view=_corner2((0.7, 0.65, 0.1), 45.0, level, ("goal",))),
        SawyerBinImage("sawyer-bin-image", "Meta-World bin-picking-v3, 64x64 images", pixels, 4, 150,
                       tracked_dims=(0, 1), state_task=state["sawyer-bin"],
                       view=_corner2((1.3, -0.05, 0.9), 14.0)),
    )  # fmt: skip
    return {task.name: task for task in tasks}
