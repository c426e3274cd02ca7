"""Scripted controllers for the robot tasks, written for crl: they check each task's success definition
(a controller that solves the task must score near 100% through crl's own rollouts, a random one near 0)
and can serve as demonstrators. Each maps (states, goals) in the task's layout to actions in [-1, 1]."""

from __future__ import annotations

import numpy as np

GAIN = 10.0  # Fetch moves the gripper by 0.05 m per unit action: a proportional step toward the aim


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


def _toward(position: np.ndarray, aim: np.ndarray) -> np.ndarray:
    actions = np.zeros((len(position), 4), np.float32)
    actions[:, :3] = np.clip(GAIN * (aim - position), -1.0, 1.0)
    return actions


CONTROLLERS = {"fetch-reach": fetch_reach, "fetch-push": fetch_push}
