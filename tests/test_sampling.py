import jax
import jax.numpy as jnp
import numpy as np
import pytest

from crl.data.sampling import (
    DeviceData,
    geometric_future,
    mixed_goals,
    sample_batch,
    trajectory_ends,
    truncated_geometric_future,
    uniform_future,
)

LENGTHS = (5, 40, 200, 1)


def _ends():
    terminals = np.concatenate([np.eye(n)[-1] for n in LENGTHS])
    return jnp.asarray(trajectory_ends(terminals)), terminals


def _source(ends):
    return DeviceData(jnp.zeros((len(ends), 1)), jnp.zeros((len(ends), 1)), jnp.asarray(ends))


def _starts(ends):
    ends = np.asarray(ends)
    return np.concatenate([[0], np.flatnonzero(np.diff(ends)) + 1])[np.searchsorted(np.unique(ends), ends)]


def test_trajectory_ends():
    ends, _ = _ends()
    expected = np.repeat(np.cumsum(LENGTHS) - 1, LENGTHS)
    np.testing.assert_array_equal(ends, expected)


@pytest.mark.parametrize("discount", [0.9, 0.99])
def test_geometric_offset_mean_matches_clipped_expectation(discount):
    ends, _ = _ends()
    n = 200_000
    idx = jnp.full((n,), 10, jnp.int32)  # state 5 of the 40-step trajectory: 34 states ahead
    goals = np.asarray(geometric_future(jax.random.PRNGKey(0), idx, ends, discount))
    room = int(ends[10]) - 10
    # E[min(K, room)] for K ~ Geometric(p) on {1, 2, ...} is sum_{k=0}^{room-1} P(K > k) = sum (1-p)^k.
    expected = sum(discount**k for k in range(room))
    assert abs((goals - 10).mean() - expected) < 4 * (goals - 10).std() / np.sqrt(n)
    assert goals.min() >= 11 and goals.max() <= int(ends[10])


def test_goals_stay_in_the_same_trajectory_and_never_in_the_past():
    ends, _ = _ends()
    starts = _starts(ends)
    idx = jax.random.randint(jax.random.PRNGKey(1), (50_000,), 0, len(ends))
    for goals in (
        geometric_future(jax.random.PRNGKey(2), idx, ends, 0.99),
        uniform_future(jax.random.PRNGKey(3), idx, ends),
        mixed_goals(jax.random.PRNGKey(4), _source(ends), idx, 0.2, 0.8, 0.0),
    ):
        goals, i = np.asarray(goals), np.asarray(idx)
        assert (goals >= i).all()
        assert (goals <= np.asarray(ends)[i]).all()
        assert (starts[goals] == starts[i]).all()


def test_future_goals_are_strictly_later_except_at_the_end():
    ends, _ = _ends()
    idx = jax.random.randint(jax.random.PRNGKey(5), (20_000,), 0, len(ends))
    goals = np.asarray(uniform_future(jax.random.PRNGKey(6), idx, ends))
    i, e = np.asarray(idx), np.asarray(ends)
    at_end = i == e[i]
    assert (goals[~at_end] > i[~at_end]).all()
    assert (goals[at_end] == i[at_end]).all()


@pytest.mark.parametrize("start, later", [(5, 39), (39, 5)])
def test_uniform_future_follows_ogbench_law(start, later):
    # OGBench rounds a uniform point between the next state and the last one: the two endpoints get
    # half the weight of each state between them, 1 / (2 (later - 1)) against 1 / (later - 1).
    ends, _ = _ends()
    assert int(ends[start]) - start == later
    idx = jnp.full((200_000,), start, jnp.int32)
    goals = np.asarray(uniform_future(jax.random.PRNGKey(7), idx, ends))
    counts = np.bincount(goals - start - 1, minlength=later)
    assert len(counts) == later
    expected = len(goals) * np.array([0.5, *[1.0] * (later - 2), 0.5]) / (later - 1)
    assert np.abs(counts - expected).max() < 5 * np.sqrt(expected.max())


@pytest.mark.parametrize("probs", [(0.0, 0.5, 0.5), (0.2, 0.3, 0.5), (0.0, 1.0, 0.0)])
def test_mixture_shares_match_the_config(probs):
    # One long trajectory, so that a random goal is rarely the current state or a future one by chance;
    # classify each goal by the past-or-not rule: random goals land in the past half the time.
    n_states = 1_000_000
    ends = jnp.full((n_states,), n_states - 1, jnp.int32)
    idx = jnp.full((200_000,), n_states // 2, jnp.int32)
    goals = np.asarray(mixed_goals(jax.random.PRNGKey(8), _source(ends), idx, *probs))
    current = (goals == n_states // 2).mean()
    past = (goals < n_states // 2).mean()
    assert abs(current - probs[0]) < 0.01
    assert abs(2 * past - probs[2]) < 0.01  # half of the random goals fall before the current state


def test_sample_batch_pairs_rows_consistently():
    n = 300
    obs = np.arange(n, dtype=np.float32)[:, None].repeat(2, 1)
    actions = -obs
    ends, _ = _ends()
    data = DeviceData(jnp.asarray(obs[: len(ends)]), jnp.asarray(actions[: len(ends)]), ends)
    batch = sample_batch(jax.random.PRNGKey(9), data, 64, 0.99, (0.0, 1.0, 0.0))
    idx = np.asarray(batch.observations[:, 0]).astype(int)
    np.testing.assert_array_equal(batch.actions[:, 0], -idx)
    critic_goal = np.asarray(batch.critic_goals[:, 0]).astype(int)
    assert (critic_goal >= idx).all() and (critic_goal <= np.asarray(ends)[idx]).all()


def test_truncated_geometric_renormalises_on_the_states_left():
    # 3 states after the start: P(k) = 0.5^k / (0.5 + 0.25 + 0.125) on k = 1, 2, 3; the clipped law would
    # give the last state 0.25 instead of 1/7.
    ends = jnp.full((4,), 3, jnp.int32)
    idx = jnp.zeros((200_000,), jnp.int32)
    goals = np.asarray(truncated_geometric_future(jax.random.PRNGKey(0), idx, ends, 0.5))
    np.testing.assert_allclose(
        np.bincount(goals, minlength=4) / len(goals), [0, 4 / 7, 2 / 7, 1 / 7], atol=0.005
    )
    at_end = truncated_geometric_future(jax.random.PRNGKey(1), jnp.full((100,), 3, jnp.int32), ends, 0.5)
    assert (np.asarray(at_end) == 3).all()
