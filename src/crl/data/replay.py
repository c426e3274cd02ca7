"""The online replay buffer: a ring of whole episodes on the device, sampled like the offline dataset.

Episodes all have T steps (the point environments never end early), so the buffer is [E, T + 1, ...]:
row t of an episode holds s_t and a_t, and row T holds the final state s_T (its action is padding and is
never sampled). Seen flat ([E (T + 1), ...]) it is a source for `crl.data.sampling`: every row's
trajectory ends at its episode's row T, so relabelled goals never cross episodes, and a write replaces
the oldest episodes whole. Each episode also keeps the goal it was commanded, and each row whether the
policy chose its action (rather than the uniform random actions of the first steps): filtered
relabelling (`crl.agents.crl.relabel_weights`) reads both. A replay of images also keeps each row's
goal-space coordinates (the point's position, say): what the frame shows, as numbers, for the sparse
reward of TD3 + HER.
"""

from __future__ import annotations

import flax.struct
import jax
import jax.numpy as jnp

from crl.data.images import storage_dtype


class Replay(flax.struct.PyTreeNode):
    episode_observations: jax.Array  # (E, T + 1, *obs_shape)
    episode_actions: jax.Array  # (E, T + 1, action_dim); row T is padding
    episode_goals: jax.Array  # (E, *goal_shape): the goal each episode was commanded
    episode_acted: jax.Array  # (E, T + 1) bool: the policy chose a_t (False: a uniform random action)
    inserted: jax.Array  # int32: episodes written since the start (the ring's write position mod E)
    episode_coords: jax.Array | None = None  # (E, T + 1, k): images only, each row's goal coordinates
    goal_indices: tuple[int, ...] | None = flax.struct.field(pytree_node=False, default=None)
    """The state coordinates that make a goal (None: the whole state)."""

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

    def goals_at(self, idx: jax.Array) -> jax.Array:
        states = self.observations[idx]
        return states if self.goal_indices is None else states[..., jnp.array(self.goal_indices)]

    def next_at(self, idx: jax.Array) -> tuple[jax.Array, jax.Array]:
        return self.observations[idx + 1], self.goals_at(idx + 1)  # start rows never end an episode

    def commanded_at(self, idx: jax.Array) -> tuple[jax.Array, jax.Array]:
        """The goal commanded in each row's episode, and whether the policy chose the row's action."""
        return self.episode_goals[idx // self.rows_per_episode], self.episode_acted.reshape(-1)[idx]

    def coords_at(self, idx: jax.Array) -> jax.Array | None:
        """The goal-space coordinates that each row's frame shows (None: the rows are states)."""
        if self.episode_coords is None:
            return None
        return self.episode_coords.reshape(-1, self.episode_coords.shape[-1])[idx]


def empty_replay(
    transitions: int,
    episode_length: int,
    obs_shape: tuple[int, ...],
    action_dim: int,
    goal_indices: tuple[int, ...] | None = None,
    coords_dim: int | None = None,
) -> Replay:
    """A buffer of `transitions` // episode_length whole episodes; goals are states, or the state
    coordinates `goal_indices`. Image observations (and goals) are stored as uint8, and beside them, with
    `coords_dim`, the goal-space coordinates each frame shows."""
    episodes, rows = transitions // episode_length, episode_length + 1
    goal_shape = obs_shape if goal_indices is None else (len(goal_indices),)
    return Replay(
        jnp.zeros((episodes, rows, *obs_shape), storage_dtype(obs_shape)),
        jnp.zeros((episodes, rows, action_dim), jnp.float32),
        jnp.zeros((episodes, *goal_shape), storage_dtype(goal_shape)),
        jnp.zeros((episodes, rows), bool),
        jnp.zeros((), jnp.int32),
        None if coords_dim is None else jnp.zeros((episodes, rows, coords_dim), jnp.float32),
        goal_indices,
    )


def insert(
    replay: Replay,
    observations: jax.Array,
    actions: jax.Array,
    goals: jax.Array,
    acted: jax.Array,
    coords: jax.Array | None = None,
) -> Replay:
    """Write n finished episodes ((n, T + 1, ...) rows, (n, ...) commanded goals; for images, the rows'
    (n, T + 1, k) goal coordinates) over the n oldest slots."""
    slots = (replay.inserted + jnp.arange(observations.shape[0])) % replay.capacity
    if replay.episode_coords is not None:
        replay = replay.replace(episode_coords=replay.episode_coords.at[slots].set(coords))
    return replay.replace(
        episode_observations=replay.episode_observations.at[slots].set(observations),
        episode_actions=replay.episode_actions.at[slots].set(actions),
        episode_goals=replay.episode_goals.at[slots].set(goals),
        episode_acted=replay.episode_acted.at[slots].set(acted),
        inserted=replay.inserted + observations.shape[0],
    )
