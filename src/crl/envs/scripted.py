"""Scripted controllers for the robot tasks, written for crl: they check each task's success definition
(a controller that solves the task must score near 100% through crl's own rollouts, a random one near 0)
and can serve as demonstrators. Each maps (states, goals) in the task's layout to actions in [-1, 1]."""

from __future__ import annotations

import numpy as np

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


CONTROLLERS = {
    "fetch-reach": fetch_reach,
    "fetch-push": fetch_push,
    "sawyer-push": sawyer_push,
    "sawyer-bin": sawyer_bin,
}
