"""A ring of single transitions (s, a, r, mask, s') on the device, sampled uniformly: the replay of the
reward-driven SAC experts (`crl.agents.sac`), whose episodes end early (a fallen ant) and whose reward the
environment gives. mask = 0 where s' ended the episode by termination (no bootstrap), 1 otherwise."""

from __future__ import annotations

import flax.struct
import jax
import jax.numpy as jnp


class Transitions(flax.struct.PyTreeNode):
    observations: jax.Array  # (N, obs_dim)
    actions: jax.Array  # (N, action_dim)
    rewards: jax.Array  # (N,)
    masks: jax.Array  # (N,)
    next_observations: jax.Array  # (N, obs_dim)
    inserted: jax.Array  # int32: transitions written since the start (the write position mod N)

    @property
    def capacity(self) -> int:
        return self.observations.shape[0]

    @property
    def filled(self) -> jax.Array:
        return jnp.minimum(self.inserted, self.capacity)


def empty_transitions(capacity: int, obs_dim: int, action_dim: int) -> Transitions:
    zeros = jnp.zeros
    return Transitions(zeros((capacity, obs_dim)), zeros((capacity, action_dim)), zeros(capacity),
                       zeros(capacity), zeros((capacity, obs_dim)), jnp.zeros((), jnp.int32))  # fmt: skip


def insert(buffer: Transitions, batch: dict[str, jax.Array], count: jax.Array) -> Transitions:
    """Write the first `count` rows of `batch` (arrays of a fixed length, so that one compiled program
    serves every round) at the ring's write position; the rows past `count` write nothing."""
    n = batch["rewards"].shape[0]
    rows = (buffer.inserted + jnp.arange(n)) % buffer.capacity
    rows = jnp.where(jnp.arange(n) < count, rows, buffer.capacity)  # out of range: dropped

    def put(column, values):
        return column.at[rows].set(values.astype(column.dtype), mode="drop")

    return buffer.replace(
        **{name: put(getattr(buffer, name), values) for name, values in batch.items()},
        inserted=buffer.inserted + count,
    )


def sample(key: jax.Array, buffer: Transitions, batch_size: int) -> dict[str, jax.Array]:
    rows = jax.random.randint(key, (batch_size,), 0, buffer.filled)
    return {name: getattr(buffer, name)[rows] for name in ("observations", "actions", "rewards", "masks",
                                                             "next_observations")}  # fmt: skip
