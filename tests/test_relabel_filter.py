"""Filtered relabelling (CRL paper Sec. 4.5, Fig. 13): the replay's commanded goals, the filter's rule and
the row-weighted critic losses it feeds."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from crl.agents import crl, sample_and_update
from crl.agents.losses import cpc_loss, nce_binary_loss
from crl.config import TrainConfig
from crl.data.replay import Replay
from crl.envs import make_env
from crl.errors import CrlError
from crl.online import collect_step, init_collector
from crl.presets import preset_config
from crl.train import initial_states

ENV = "point-small"


@pytest.mark.parametrize("critic", ["nce", "cpc"])
def test_row_weights_drop_whole_rows_and_keep_the_plain_mean_otherwise(critic):
    rng = np.random.default_rng(0)
    logits = (3 * rng.normal(size=(2, 6, 6))).astype(np.float32)  # (ensemble, B, B)
    weights = np.array([1, 0, 1, 1, 0, 1], np.float32)
    diag = np.diagonal(logits, axis1=-2, axis2=-1)
    if critic == "nce":  # each row's binary cross-entropy, averaged over its B entries
        probs = 1 / (1 + np.exp(-logits.astype(np.float64)))
        eye = np.eye(6, dtype=bool)
        per_row = -np.where(eye, np.log(probs), np.log1p(-probs)).mean(-1)
        loss, kw = nce_binary_loss, {}
    else:
        lse = np.log(np.exp(logits.astype(np.float64)).sum(-1))
        per_row = lse - diag + 0.01 * lse**2
        loss, kw = cpc_loss, {"logsumexp_coef": 0.01}
    expected = np.mean((per_row * weights).sum(-1) / weights.sum())
    np.testing.assert_allclose(loss(jnp.asarray(logits), row_weights=jnp.asarray(weights), **kw), expected,
                               rtol=1e-5)  # fmt: skip
    plain = loss(jnp.asarray(logits), **kw)
    np.testing.assert_allclose(loss(jnp.asarray(logits), row_weights=jnp.ones(6), **kw), plain, rtol=1e-6)
    assert not np.isclose(float(plain), expected, rtol=1e-3), "the weights made no difference"


@pytest.fixture(scope="module")
def collected():
    """One round of random episodes, then one of the policy's, on point-small (3 environments), with the
    goals each episode was commanded."""
    env = make_env(ENV)
    config = preset_config("quick", None, "crl", env=ENV)
    config = dataclasses.replace(
        config, num_envs=3, replay_size=6 * env.episode_length,
        agent=dataclasses.replace(config.agent, batch_size=64, hidden=(32, 32), latent_dim=16),
    )  # fmt: skip
    state = jax.tree.map(lambda x: x[0], initial_states(config.agent, [0], env.obs_shape, env.action_dim))
    step = jax.jit(collect_step, static_argnames=("env", "agent_config", "learned"))
    collector, commanded = init_collector(env, config, 0), []
    for learned in (False, True):
        commanded.append(np.asarray(jax.vmap(env.goal)(collector.env_states)))
        for t in range(env.episode_length):
            collector = step(state, collector, jnp.int32(t), env, config.agent, learned)
    return config.agent, state, collector.replay, np.concatenate(commanded)


def test_the_replay_keeps_each_episodes_commanded_goal_and_who_chose_its_actions(collected):
    _, _, replay, commanded = collected
    assert int(replay.filled) == 6
    np.testing.assert_array_equal(replay.episode_goals, commanded)
    acted = np.asarray(replay.episode_acted)
    assert not acted[:3].any(), "random actions were marked as the policy's"
    assert acted[3:, :-1].all() and not acted[3:, -1].any()  # the final row holds no action


def _batch(replay: Replay, config, key=0):
    return crl.draw(jax.random.PRNGKey(key), replay, dataclasses.replace(config, batch_size=512))


def test_the_filter_keeps_random_actions_and_goal_independent_rows_and_drops_the_rest(collected):
    config, state, replay, _ = collected
    batch = _batch(replay, config)
    acted = np.asarray(batch.acted)
    assert 0 < acted.mean() < 1, "the batch needs rows of both phases"

    def kept(eps, b=batch):
        return np.asarray(
            crl.relabel_weights(dataclasses.replace(config, relabel_filter=eps), state.params["actor"], b)
        )

    strict = kept(1e-30)
    assert strict[~acted].all(), "a random action depends on no goal: its row always passes"
    assert not strict[acted].any(), "an untrained actor's likelihood depends on the goal: rows must drop"
    assert kept(1e30).all()
    # Relabelled with the commanded goal itself, the two likelihoods are one: every row passes.
    assert kept(1e-30, batch._replace(critic_goals=batch.commanded_goals)).all()
    fractions = [kept(eps)[acted].mean() for eps in (1e-3, 1e-2, 1e-1, 1.0)]
    assert fractions == sorted(fractions) and fractions[-1] > 0, fractions


def test_a_dropped_row_adds_nothing_to_the_critic_loss(collected):
    config, state, replay, _ = collected
    batch = _batch(replay, config, key=1)
    obs = batch.observations
    weights = jnp.zeros(len(obs)).at[::2].set(1.0)

    def loss(obs):
        return crl.contrastive_loss(
            config, state.params["critic"], obs, batch.actions, batch.critic_goals, row_weights=weights
        )[0]

    moved_dropped = obs.at[1].add(5.0)  # row 1 has weight 0
    moved_kept = obs.at[0].add(5.0)
    assert float(loss(moved_dropped)) == float(loss(obs))
    assert float(loss(moved_kept)) != float(loss(obs))


def test_an_update_with_an_infinite_epsilon_is_the_plain_update(collected):
    config, state, replay, _ = collected
    update = jax.jit(sample_and_update, static_argnums=2)
    plain, _ = update(state, replay, config)
    filtered, info = update(state, replay, dataclasses.replace(config, relabel_filter=float("inf")))
    assert float(info["critic/relabel_kept"]) == 1.0
    for a, b in zip(jax.tree.leaves(plain.params), jax.tree.leaves(filtered.params), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize(
    "changes, message",
    [
        (dict(relabel_filter=0.0), "--agent.relabel-filter must be positive"),
        (dict(relabel_filter=1.0, critic="nce+c-learning"), "needs --agent.critic nce or cpc"),
        (dict(relabel_filter=1.0, actor="deterministic", actor_loss="ddpgbc"), "a stochastic actor"),
    ],
)
def test_filter_settings_are_checked_in_one_line(changes, message):
    config = preset_config("quick", None, "crl", env=ENV)
    with pytest.raises(CrlError, match=message):
        dataclasses.replace(config, agent=dataclasses.replace(config.agent, **changes)).validate()


def test_the_filter_asks_for_an_online_run():
    config = TrainConfig()
    config = dataclasses.replace(config, agent=dataclasses.replace(config.agent, relabel_filter=1.0))
    with pytest.raises(CrlError, match="datasets do not record"):
        config.validate()
