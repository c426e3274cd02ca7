"""Scripted controllers for the robot tasks, written for crl: they check each task's success definition
(a controller that solves the task must score near 100% through crl's own rollouts, a random one near 0)
and can serve as demonstrators. Each maps (states, goals) in the task's layout to actions in [-1, 1]."""

from __future__ import annotations

from collections import deque

import numpy as np

from crl.envs.robots import U_CELL, U_MAZE

GAIN = 10.0  # Fetch moves the gripper by 0.05 m per unit action: a proportional step toward the aim
SAWYER_GAIN = 25.0  # Sawyer's mocap moves 0.01 m per unit action
GRASP_HEIGHT = 0.045  # the hand body sits this far above an object held between the fingers


def fetch_reach(states: np.ndarray, goals: np.ndarray) -> np.ndarray:
    """Move the gripper straight at the target."""
    return _toward(states[:, :3], goals[:, :3])


def fetch_push(states: np.ndarray, goals: np.ndarray) -> np.ndarray:
    """Rise, cross over to a point behind the block (seen from the target), descend, then push the block
    toward the target with the gripper at the block's height."""
    aims = np.array([_push_aim(s[0:3], s[3:6], g[3:6]) for s, g in zip(states, goals, strict=True)])
    return _toward(states[:, :3], aims)


def _push_aim(grip: np.ndarray, block: np.ndarray, target: np.ndarray) -> np.ndarray:
    to_target = target[:2] - block[:2]
    distance = np.linalg.norm(to_target) + 1e-8
    direction = to_target / distance
    behind = block[:2] - 0.05 * direction
    offset = grip[:2] - block[:2]
    along = offset @ direction
    aligned = along < -0.01 and np.linalg.norm(offset - along * direction) < 0.025
    if aligned and abs(grip[2] - block[2]) < 0.02:  # pushing: aim just past the block's centre
        return np.r_[block[:2] + min(distance, 0.05) * direction, block[2]]
    if np.linalg.norm(grip[:2] - behind) < 0.015:  # above the pushing point: descend
        return np.r_[behind, block[2]]
    if grip[2] < block[2] + 0.04:  # rise first, so as not to sweep the block away
        return np.r_[grip[:2], block[2] + 0.08]
    return np.r_[behind, block[2] + 0.08]


def sawyer_push(states: np.ndarray, goals: np.ndarray) -> np.ndarray:
    """Grasp the puck and slide it to the target along the table (state: finger centre, puck, gripper)."""
    return np.array(
        [
            _pick_and_place(s[0:3], s[3:6], s[6], g[0:3], 0.0, carry=0.0)
            for s, g in zip(states, goals, strict=True)
        ]
    )


def sawyer_bin(states: np.ndarray, goals: np.ndarray) -> np.ndarray:
    """Grasp the object, lift it over the bins' walls, carry it above the target and lower it there (state:
    hand, gripper, object)."""
    return np.array(
        [
            _pick_and_place(s[0:3], s[4:7], s[3], g[4:7], GRASP_HEIGHT, carry=0.15)
            for s, g in zip(states, goals, strict=True)
        ]
    )


def _pick_and_place(
    hand: np.ndarray, obj: np.ndarray, opening: float, target: np.ndarray, rest: float, carry: float
) -> np.ndarray:
    """One Sawyer action: open above the object, descend, close, then move the closed gripper to the target
    (at height `carry` while far from it). `rest`: the hand's height above a grasped object's centre."""
    offset = hand - obj - [0, 0, rest]
    holding = opening < 0.8 and np.linalg.norm(offset) < 0.06
    if holding:
        far = np.linalg.norm(obj[:2] - target[:2]) > 0.02
        aim = np.r_[target[:2], max(target[2], carry) if far else target[2]] + [0, 0, rest]
        return np.r_[np.clip(0.4 * SAWYER_GAIN * (aim - hand), -1, 1), 1.0]  # gently: the load swings
    if np.linalg.norm(offset[:2]) > 0.015:  # above the object, no lower than now
        return np.r_[
            np.clip(SAWYER_GAIN * (np.r_[obj[:2], max(hand[2], obj[2] + rest + 0.05)] - hand), -1, 1), -1.0
        ]
    if offset[2] > 0.01 and opening > 0.8:  # descend, open
        return np.r_[np.clip(SAWYER_GAIN * (obj + [0, 0, rest] - hand), -1, 1), -1.0]
    return np.array([0.0, 0.0, 0.0, 1.0])  # close


def _toward(position: np.ndarray, aim: np.ndarray) -> np.ndarray:
    actions = np.zeros((len(position), 4), np.float32)
    actions[:, :3] = np.clip(GAIN * (aim - position), -1.0, 1.0)
    return actions


# --- Ant U-maze: a trot steered along the maze ---------------------------------------------------------
# The ant's legs sit at 45, 135, 225 and 315 degrees; a hip turns its foot along the tangent. In a trot the
# diagonal pairs (legs 1 and 3, legs 2 and 4) alternate stance and swing; a pair whose hips stroke in
# opposite senses during stance pushes the torso along the other diagonal. Weighting each pair's stroke by
# the wanted heading (in the torso's frame) walks in any direction without turning the torso.
PAIR_DIRECTIONS = np.array([[-1.0, 1.0], [-1.0, -1.0]]) / np.sqrt(2)  # torso motion per unit stroke
ANKLE_DOWN = np.array([1.0, -1.0, -1.0, 1.0])  # the sign of each ankle angle that lowers its foot
ACTUATOR_JOINTS = [6, 7, 0, 1, 2, 3, 4, 5]  # the actuators drive hip_4, ankle_4, hip_1, ... in this order
GAIT_PERIOD = 10  # steps (0.5 s)
STROKE = 1.2  # rad: beyond the hips' +-30 degree range, so the motors drive each stroke to the stop
STANCE, SWING = np.deg2rad(60.0), np.deg2rad(35.0)  # ankle angles: a foot pressed down, a foot lifted
KP, KD = 1.0, 0.15  # joint PD gains (actions are torques / 150)
WALL_CLEARANCE = 1.0  # m kept between the torso's straight path and any wall


class AntWalker:
    """Walks toward the goal through the U-maze: aims at the farthest point of the shortest cell path that
    it can reach in a straight line clear of the walls, and trots toward it. The gait's phase is the step
    count, so each rollout takes a fresh walker."""

    def __init__(self):
        self.steps = 0

    def __call__(self, states: np.ndarray, goals: np.ndarray) -> np.ndarray:
        phase = 2 * np.pi * self.steps / GAIT_PERIOD
        self.steps += 1
        xy = states[:, :2]
        aims = np.array([_maze_aim(p, g[:2]) for p, g in zip(xy, goals, strict=True)])
        heading = (aims - xy) / (np.linalg.norm(aims - xy, axis=1, keepdims=True) + 1e-8)
        strokes = STROKE * _to_torso_frame(heading, _yaw(states[:, 3:7])) @ PAIR_DIRECTIONS.T  # (n, 2)
        pair_a, pair_b = strokes[:, :1] * np.cos(phase), strokes[:, 1:] * -np.cos(phase)
        hips = np.concatenate([pair_a, pair_b, -pair_a, -pair_b], 1)
        a_stands = np.sin(phase) > 0
        depth = np.where([a_stands, not a_stands] * 2, STANCE, SWING)
        joints = np.empty((len(states), 8))
        joints[:, 0::2], joints[:, 1::2] = hips, ANKLE_DOWN * depth
        torques = KP * (joints - states[:, 7:15]) - KD * states[:, 21:29]  # joint angles, joint velocities
        return np.clip(torques[:, ACTUATOR_JOINTS], -1.0, 1.0)


def _yaw(quaternions: np.ndarray) -> np.ndarray:
    w, x, y, z = quaternions.T
    return np.arctan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))


def _to_torso_frame(vectors: np.ndarray, yaw: np.ndarray) -> np.ndarray:
    c, s = np.cos(yaw), np.sin(yaw)
    return np.stack([c * vectors[:, 0] + s * vectors[:, 1], -s * vectors[:, 0] + c * vectors[:, 1]], 1)


_FREE = {(i, j) for i, row in enumerate(U_MAZE) for j, c in enumerate(row) if c != 1}


def _cell(xy: np.ndarray) -> tuple[int, int]:
    rows, cols = len(U_MAZE), len(U_MAZE[0])
    return int(np.floor(rows / 2 - xy[1] / U_CELL)), int(np.floor(xy[0] / U_CELL + cols / 2))


def _centre(cell: tuple[int, int]) -> np.ndarray:
    rows, cols = len(U_MAZE), len(U_MAZE[0])
    return U_CELL * np.array([cell[1] + 0.5 - cols / 2, rows / 2 - cell[0] - 0.5])


_WALLS = np.array([_centre((i, j)) for i, row in enumerate(U_MAZE) for j, c in enumerate(row) if c == 1])


def _cell_path(start: tuple[int, int], end: tuple[int, int]) -> list[tuple[int, int]]:
    """The free cells from `start` to `end` (breadth first)."""
    previous, queue = {start: start}, deque([start])
    while queue:
        cell = queue.popleft()
        for step in ((0, 1), (1, 0), (0, -1), (-1, 0)):
            near = (cell[0] + step[0], cell[1] + step[1])
            if near in _FREE and near not in previous:
                previous[near] = cell
                queue.append(near)
    path = [end]
    while path[-1] != start:
        path.append(previous[path[-1]])
    return path[::-1]


def _clear(p: np.ndarray, q: np.ndarray) -> bool:
    """Whether the segment p-q keeps WALL_CLEARANCE from every wall cell."""
    t = np.linspace(0, 1, int(np.linalg.norm(q - p) / 0.25) + 2)[:, None, None]
    outside = np.maximum(np.abs(p + t * (q - p) - _WALLS) - U_CELL / 2, 0)  # (points, walls, 2)
    return bool(np.linalg.norm(outside, axis=-1).min() >= WALL_CLEARANCE)


def _maze_aim(xy: np.ndarray, goal: np.ndarray) -> np.ndarray:
    here, there = _cell(xy), _cell(goal)
    if here not in _FREE or here == there:
        return goal
    points = [_centre(c) for c in _cell_path(here, there)[1:-1]] + [goal]
    aim = points[0]  # the next cell, even when a wall corner is near
    for point in points[1:]:
        if not _clear(xy, point):
            break
        aim = point
    return aim


def random_actions(action_dim: int, seed: int = 0):
    """The baseline the controllers are compared with: uniform random actions in the action box."""
    rng = np.random.default_rng(seed)
    return lambda states, goals: rng.uniform(-1, 1, (len(states), action_dim))


# Each task's controller, made fresh for each rollout (the ant's gait keeps its phase).
CONTROLLERS = {
    "fetch-reach": lambda: fetch_reach,
    "fetch-push": lambda: fetch_push,
    "sawyer-push": lambda: sawyer_push,
    "sawyer-bin": lambda: sawyer_bin,
    "ant-umaze": AntWalker,
}
