"""The online replay buffer: a ring of whole episodes on the device, sampled like the offline dataset.

Episodes all have T steps (the point environments never end early), so the buffer is [E, T + 1, ...]:
row t of an episode holds s_t and a_t, and row T holds the final state s_T (its action is padding and is
never sampled). Seen flat ([E (T + 1), ...]) it is a source for `crl.data.sampling`: every row's
trajectory ends at its episode's row T, so relabelled goals never cross episodes, and a write replaces
the oldest episodes whole.
"""

from __future__ import annotations

import flax.struct
import jax
import jax.numpy as jnp


class Replay(flax.struct.PyTreeNode):
    episode_observations: jax.Array  # (E, T + 1, *obs_shape)
    episode_actions: jax.Array  # (E, T + 1, action_dim); row T is padding
    inserted: jax.Array  # int32: episodes written since the start (the ring's write position mod E)

    @property
    def capacity(self) -> int:
        return self.episode_observations.shape[0]

    @property
    def rows_per_episode(self) -> int:
        return self.episode_observations.shape[1]

    @property
    def filled(self) -> jax.Array:
        return jnp.minimum(self.inserted, self.capacity)

    # --- the source interface of crl.data.sampling ----------------------------------------------------

    @property
    def observations(self) -> jax.Array:
        return self.episode_observations.reshape(-1, *self.episode_observations.shape[2:])

    @property
    def actions(self) -> jax.Array:
        return self.episode_actions.reshape(-1, self.episode_actions.shape[-1])

    @property
    def traj_end(self) -> jax.Array:
        rows = self.rows_per_episode
        return (jnp.arange(self.capacity * rows, dtype=jnp.int32) // rows) * rows + rows - 1

    def start_rows(self, key: jax.Array, n: int) -> jax.Array:
        """Uniform over the (s_t, a_t) rows of the filled episodes: never an episode's final row."""
        k_episode, k_step = jax.random.split(key)
        episode = jax.random.randint(k_episode, (n,), 0, self.filled)
        return episode * self.rows_per_episode + jax.random.randint(
            k_step, (n,), 0, self.rows_per_episode - 1
        )

    def random_rows(self, key: jax.Array, shape: tuple[int, ...]) -> jax.Array:
        """Uniform over every state of the filled episodes, final states included."""
        return jax.random.randint(key, shape, 0, self.filled * self.rows_per_episode)

    def next_at(self, idx: jax.Array) -> jax.Array:
        return self.observations[idx + 1]  # start rows are never an episode's last row


def empty_replay(
    transitions: int, episode_length: int, obs_shape: tuple[int, ...], action_dim: int
) -> Replay:
    """A buffer of `transitions` // episode_length whole episodes."""
    episodes = transitions // episode_length
    return Replay(
        jnp.zeros((episodes, episode_length + 1, *obs_shape), jnp.float32),
        jnp.zeros((episodes, episode_length + 1, action_dim), jnp.float32),
        jnp.zeros((), jnp.int32),
    )


def insert(replay: Replay, observations: jax.Array, actions: jax.Array) -> Replay:
    """Write n finished episodes ((n, T + 1, ...) each) over the n oldest slots."""
    slots = (replay.inserted + jnp.arange(observations.shape[0])) % replay.capacity
    return Replay(
        replay.episode_observations.at[slots].set(observations),
        replay.episode_actions.at[slots].set(actions),
        replay.inserted + observations.shape[0],
    )
