"""Data sources on the device, and minibatch and goal sampling inside the compiled program.

A source is a flat array of rows (states) with `traj_end[i]`, the row of the last state of the
trajectory holding row i, so a goal row g with i <= g <= traj_end[i] never leaves the trajectory of i
and never lies in its past. Two sources share every sampler here: the offline dataset (`DeviceData`)
and the online replay buffer (`crl.data.replay.Replay`). Each says which rows a minibatch may start
from (`start_rows`), which rows are filled (`random_rows`), what a row's state is as a goal (`goals_at`),
what follows a row (`next_at`) and, online, which goal the row's episode was commanded (`commanded_at`)
and, for images, the goal-space coordinates that the row's frame shows (`coords_at`).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from crl.data.images import augment_batch


class DeviceData(NamedTuple):
    observations: jax.Array  # (N, *obs_shape)
    actions: jax.Array  # (N, action_dim)
    traj_end: jax.Array  # (N,) int32
    next_observations: jax.Array | None = None  # (N, *obs_shape), only for critics that bootstrap

    def start_rows(self, key: jax.Array, n: int) -> jax.Array:
        """Rows a minibatch starts from: any row (OGBench also samples a trajectory's last state)."""
        return jax.random.randint(key, (n,), 0, self.traj_end.shape[0])

    def random_rows(self, key: jax.Array, shape: tuple[int, ...]) -> jax.Array:
        return jax.random.randint(key, shape, 0, self.traj_end.shape[0])

    def goals_at(self, idx: jax.Array) -> jax.Array:
        return self.observations[idx]  # offline goals are whole states

    def next_at(self, idx: jax.Array) -> tuple[jax.Array, jax.Array] | None:
        """s_{t+1} of each row, as a state and as a goal, when the data carries it."""
        return None if self.next_observations is None else (self.next_observations[idx],) * 2

    def commanded_at(self, idx: jax.Array) -> None:
        return None  # datasets record no commanded goals

    def coords_at(self, idx: jax.Array) -> None:
        return None  # a dataset's goals are its states


class Batch(NamedTuple):
    observations: jax.Array
    actions: jax.Array
    critic_goals: jax.Array  # geometric-future states
    actor_goals: jax.Array  # the actor-goal mixture
    next_observations: jax.Array | None = None  # s_{t+1}, when the data carries it
    next_goals: jax.Array | None = None  # s_{t+1} in the goal space, with next_observations
    random_goals: jax.Array | None = None  # uniformly random dataset states, with next_observations
    commanded_goals: jax.Array | None = None  # online: the goal each row's episode was commanded
    acted: jax.Array | None = None  # online: whether the policy (not a random action) chose each action
    next_coords: jax.Array | None = None  # online images: the goal-space coordinates s_{t+1} shows
    actor_goal_coords: jax.Array | None = None  # online images: those each actor goal shows


def trajectory_ends(terminals: np.ndarray) -> np.ndarray:
    """For each index of a regular-layout dataset, the index of its trajectory's last state."""
    (ends,) = np.nonzero(terminals > 0)
    return ends[np.searchsorted(ends, np.arange(len(terminals)))].astype(np.int32)


def to_device(regular: dict[str, np.ndarray], next_observations: bool = False) -> DeviceData:
    """The regular-layout dataset as device arrays; next observations only when asked (they double memory)."""
    return DeviceData(
        observations=jnp.asarray(regular["observations"]),
        actions=jnp.asarray(regular["actions"]),
        traj_end=jnp.asarray(trajectory_ends(regular["terminals"])),
        next_observations=jnp.asarray(regular["next_observations"]) if next_observations else None,
    )


def geometric_future(key: jax.Array, idx: jax.Array, traj_end: jax.Array, discount: float) -> jax.Array:
    """idx + k with k ~ Geometric(1 - discount) on {1, 2, ...}, clipped to the trajectory's last state."""
    offsets = jax.random.geometric(key, 1.0 - discount, shape=idx.shape)
    return jnp.minimum(idx + offsets, traj_end[idx])


def truncated_geometric_future(
    key: jax.Array, idx: jax.Array, traj_end: jax.Array, discount: float
) -> jax.Array:
    """idx + k with P(k) proportional to discount^k on {1, ..., traj_end - idx} (the trajectory's last
    state itself when idx is it): the CRL paper code's relabelling, a geometric truncated at the
    trajectory's end and renormalised, where `geometric_future` clips and so piles the truncated mass
    on the last state. Drawn by inverting the CDF (1 - discount^k) / (1 - discount^m)."""
    room = (traj_end[idx] - idx).astype(jnp.float32)
    u = jax.random.uniform(key, idx.shape)
    k = jnp.ceil(jnp.log1p(-u * (1.0 - discount**room)) / jnp.log(discount))
    return idx + jnp.clip(k, 1.0, room).astype(idx.dtype) * (room > 0)


def uniform_future(key: jax.Array, idx: jax.Array, traj_end: jax.Array) -> jax.Array:
    """A later state of the same trajectory (the state itself at the trajectory's end), drawn as OGBench's
    GCDataset draws it: round(low + (end - low) u), u ~ U[0, 1), low = idx + 1. The rounding gives the
    two endpoints half the weight of each state between them; crl keeps that law for parity."""
    end = traj_end[idx]
    low = jnp.minimum(idx + 1, end)
    offset = jnp.round((end - low) * (1.0 - jax.random.uniform(key, idx.shape)))
    return low + offset.astype(idx.dtype)


def mixed_goals(
    key: jax.Array, data, idx: jax.Array, p_cur: float, p_traj: float, p_random: float
) -> jax.Array:
    """OGBench's actor goals: the rows of the current state, a uniform future state or a random filled row."""
    k_choice, k_traj, k_rand = jax.random.split(key, 3)
    if p_traj == 1.0:  # OGBench's CRL setting: no draws for a choice that is already made
        return uniform_future(k_traj, idx, data.traj_end)
    kind = jax.random.choice(k_choice, 3, shape=idx.shape, p=jnp.array([p_cur, p_traj, p_random]))
    random_idx = data.random_rows(k_rand, idx.shape)
    return jnp.select([kind == 0, kind == 1], [idx, uniform_future(k_traj, idx, data.traj_end)], random_idx)


class Segment(NamedTuple):
    observations: jax.Array  # (B, H + 1, *obs_shape): s_t .. s_{t+H}
    actions: jax.Array  # (B, H, action_dim): a_t .. a_{t+H-1}
    valid: jax.Array  # (B, H) bool: step h (s_{t+h}) lies in the trajectory of s_t


def sample_batch(
    key: jax.Array,
    data: DeviceData,
    batch_size: int,
    discount: float,
    actor_goal_probs: tuple[float, float, float],
    truncated: bool = False,
    augment: float = 0.0,
) -> Batch:
    """A minibatch of (s, a) with geometric-future critic goals and mixture actor goals; with `augment`,
    its images randomly shifted with that probability (`crl.data.images.augment_batch`)."""
    if augment:
        key, k_augment = jax.random.split(key)
    k_idx, k_goals = jax.random.split(key)
    batch = batch_at(k_goals, data, data.start_rows(k_idx, batch_size), discount, actor_goal_probs, truncated)
    return augment_batch(k_augment, batch, augment) if augment else batch


def batch_at(
    key: jax.Array,
    data: DeviceData,
    idx: jax.Array,
    discount: float,
    actor_goal_probs: tuple[float, float, float],
    truncated: bool = False,
) -> Batch:
    """The minibatch of the states at `idx`, with their critic goals (clipped geometric, or truncated
    with `truncated`) and actor goals."""
    k_critic, k_actor, k_random = jax.random.split(key, 3)
    future = truncated_geometric_future if truncated else geometric_future
    critic_idx = future(k_critic, idx, data.traj_end, discount)
    actor_idx = mixed_goals(k_actor, data, idx, *actor_goal_probs)
    return Batch(
        observations=data.observations[idx],
        actions=data.actions[idx],
        critic_goals=data.goals_at(critic_idx),
        actor_goals=data.goals_at(actor_idx),
        **_bootstrap_fields(k_random, data, idx),
        **_commanded_fields(data, idx),
        **_coordinate_fields(data, idx, actor_idx),
    )


def _bootstrap_fields(key: jax.Array, data: DeviceData, idx: jax.Array) -> dict:
    following = data.next_at(idx)
    if following is None:
        return {}
    return {
        "next_observations": following[0],
        "next_goals": following[1],
        "random_goals": data.goals_at(data.random_rows(key, idx.shape)),
    }


def _commanded_fields(data: DeviceData, idx: jax.Array) -> dict:
    commanded = data.commanded_at(idx)
    return {} if commanded is None else dict(zip(("commanded_goals", "acted"), commanded, strict=True))


def _coordinate_fields(data: DeviceData, idx: jax.Array, actor_idx: jax.Array) -> dict:
    """Where the rows are images that keep their goal-space coordinates (a replay of an image task), those
    of s_{t+1} and of the actor goals: a sparse reward compares them, as it cannot compare images."""
    next_coords = data.coords_at(idx + 1)  # a replay's start rows never end an episode
    if next_coords is None:
        return {}
    return {"next_coords": next_coords, "actor_goal_coords": data.coords_at(actor_idx)}


def segments(data: DeviceData, idx: jax.Array, horizon: int) -> Segment:
    """The `horizon` transitions that follow each state in `idx`, masked past its trajectory's end.

    Masked steps repeat the trajectory's last state and action instead of reading the next trajectory.
    """
    steps = idx[:, None] + jnp.arange(horizon + 1)
    end = data.traj_end[idx][:, None]
    inside = jnp.minimum(steps, end)
    return Segment(
        observations=data.observations[inside],
        actions=data.actions[inside[:, :-1]],
        valid=steps[:, 1:] <= end,
    )
