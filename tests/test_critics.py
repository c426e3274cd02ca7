"""The rest of the CRL family: CPC, C-learning critics, energies, AWR and SAC actors, GCBC, presets."""

import dataclasses
import math
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from crl.agents import crl as agent
from crl.agents import sample_and_update
from crl.agents.losses import c_learning_loss, cpc_loss, critic_logits, paired_logits
from crl.bench import synthetic_dataset
from crl.config import CRLConfig, GCBCConfig
from crl.data import store
from crl.data.sampling import Batch, to_device
from crl.envs import make_env
from crl.logs import read_jsonl
from crl.networks import gaussian_log_prob
from crl.presets import PRESETS, preset_config
from crl.train import initial_states, run_chunk, train, unstack
from tests.conftest import DATASET, tiny_config

FULL = os.environ.get("CRL_TEST_SCALE") == "full"


def _log_sigmoid(x):
    return -math.log1p(math.exp(-x))


def test_cpc_loss_matches_hand_computation():
    logits = np.array([[2.0, 0.5, -1.0], [0.0, 1.0, 3.0], [-2.0, 0.3, 0.7]])
    rows = []
    for i in range(3):
        lse = math.log(sum(math.exp(v) for v in logits[i]))
        rows.append((lse - logits[i, i]) + 0.01 * lse**2)
    assert np.isclose(float(cpc_loss(jnp.asarray(logits), 0.01)), np.mean(rows), rtol=1e-6)


def test_l2_energy_is_negative_distance():
    phi = jnp.array([[0.0, 0.0], [3.0, 4.0]])
    psi = jnp.array([[3.0, 4.0], [0.0, 1.0]])
    np.testing.assert_allclose(critic_logits(phi, psi, "l2"), [[-5.0, -1.0], [0.0, -np.sqrt(18)]], atol=1e-5)
    np.testing.assert_allclose(paired_logits(phi, psi, "l2"), [-5.0, -np.sqrt(18)], atol=1e-5)
    np.testing.assert_allclose(paired_logits(phi, psi, "dot"), [0.0, 4.0 / np.sqrt(2)], atol=1e-6)


@pytest.mark.parametrize("mixed", [False, True])
def test_c_learning_losses_match_hand_computation(mixed):
    pos, rand, w, gamma = np.array([1.5, -0.5]), np.array([0.2, -1.0]), np.array([3.0, 0.5]), 0.9
    total = []
    for p, r, wi in zip(pos, rand, w, strict=True):
        if mixed:
            total.append(-(2 - gamma) * _log_sigmoid(p) - gamma * wi * _log_sigmoid(r) - 2 * _log_sigmoid(-r))
        else:
            total.append(-(1 - gamma) * _log_sigmoid(p) - gamma * wi * _log_sigmoid(r) - _log_sigmoid(-r))
    got = c_learning_loss(jnp.asarray(pos), jnp.asarray(rand), jnp.asarray(w), gamma, mixed)
    assert np.isclose(float(got), np.mean(total), rtol=1e-6)


def _batch(key, n=64, dim=2, with_next=True):
    ks = jax.random.split(key, 6)
    base = [jax.random.normal(ks[0], (n, dim)), jax.random.uniform(ks[1], (n, dim), minval=-1, maxval=1)]
    base += [jax.random.normal(ks[2], (n, dim)), jax.random.normal(ks[3], (n, dim))]
    if with_next:
        following = jax.random.normal(ks[4], (n, dim))
        base += [following, following, jax.random.normal(ks[5], (n, dim))]  # s', s' as a goal, random goals
    return Batch(*base)


def test_next_or_future_proportions_match_the_formula():
    n, gamma = 200_000, 0.9
    batch = Batch(
        jnp.zeros((n, 1)),
        jnp.zeros((n, 1)),
        jnp.zeros((n, 1)),
        jnp.zeros((n, 1)),
        next_observations=jnp.ones((n, 1)),
        next_goals=jnp.ones((n, 1)),
        random_goals=jnp.zeros((n, 1)),
    )
    share_next = float(agent.next_or_future(jax.random.PRNGKey(0), batch, gamma).mean())
    expected = (1 - gamma) / (2 - gamma)
    assert abs(share_next - expected) < 4 * math.sqrt(expected * (1 - expected) / n)


def _perturbed(tree, key, scale=1.0):
    leaves, treedef = jax.tree.flatten(tree)
    keys = jax.random.split(key, len(leaves))
    noise = [scale * jax.random.normal(k, x.shape) for x, k in zip(leaves, keys, strict=True)]
    return treedef.unflatten([x + n for x, n in zip(leaves, noise, strict=True)])


critic_loss = jax.jit(agent.critic_loss, static_argnums=0)  # one compile instead of op-by-op dispatch


def test_c_learning_bootstrap_weight_is_clipped_and_carries_no_gradient():
    config = CRLConfig(batch_size=64, hidden=(8,), latent_dim=4, critic="nce+c-learning", c_learning_clip=0.5)
    state = agent.init(jax.random.PRNGKey(0), config, obs_dim=2, action_dim=2)
    batch = _batch(jax.random.PRNGKey(1))
    _, info = critic_loss(config, state.params, state.target, batch, jax.random.PRNGKey(2))
    mean, _ = agent.actor_net(config, 2).apply(
        {"params": state.params["actor"]}, batch.next_observations, batch.random_goals
    )
    f = agent.q_values(
        config, state.target["critic"], batch.next_observations, jnp.clip(mean, -1, 1), batch.random_goals
    )
    raw = np.exp(np.asarray(f).min(0))  # one weight per row: the ensemble's minimum
    assert (raw > 0.5).any() and (raw < 0.5).any()  # the clip binds for some rows only
    assert float(info["bootstrap_weight"]) == pytest.approx(np.minimum(raw, 0.5).mean(), rel=1e-5)
    grads = jax.jit(
        jax.grad(lambda p: critic_loss(config, p, state.target, batch, jax.random.PRNGKey(2))[0])
    )(state.params)
    assert all(float(jnp.abs(g).max()) == 0 for g in jax.tree.leaves(grads["actor"]))
    assert any(float(jnp.abs(g).max()) > 0 for g in jax.tree.leaves(grads["critic"]))


@pytest.mark.parametrize("actor_loss", ["ddpgbc", "sac"])
def test_c_learning_bootstrap_weight_comes_from_the_target_critic(actor_loss):
    config = CRLConfig(batch_size=32, hidden=(8,), latent_dim=4, critic="c-learning", actor_loss=actor_loss)
    state = agent.init(jax.random.PRNGKey(0), config, obs_dim=2, action_dim=2)
    batch, key = _batch(jax.random.PRNGKey(1), n=32), jax.random.PRNGKey(2)
    actor, target = state.params["actor"], state.target["critic"]
    bootstrap_weight = jax.jit(agent.bootstrap_weight, static_argnums=0)
    weight = bootstrap_weight(config, target, actor, batch, key)
    assert weight.shape == (32,)  # one weight per row, shared by the ensemble members
    # Changing the online critic alone leaves the weight unchanged; changing the target changes it.
    online = {**state.params, "critic": _perturbed(state.params["critic"], jax.random.PRNGKey(3))}
    moved = {"critic": _perturbed(target, jax.random.PRNGKey(4))}
    _, base = critic_loss(config, state.params, state.target, batch, key)
    _, online_changed = critic_loss(config, online, state.target, batch, key)
    _, target_changed = critic_loss(config, state.params, moved, batch, key)
    assert float(online_changed["bootstrap_weight"]) == float(base["bootstrap_weight"])
    assert float(target_changed["bootstrap_weight"]) != pytest.approx(float(base["bootstrap_weight"]))
    # SAC's next action is a sample (the key matters); DDPG+BC's is the policy's mean (it does not).
    other_key = bootstrap_weight(config, target, actor, batch, jax.random.PRNGKey(5))
    assert np.allclose(other_key, weight) == (actor_loss == "ddpgbc")


def test_target_critic_moves_by_tau_toward_the_updated_critic():
    data = to_device(synthetic_dataset(2000, obs_dim=2, action_dim=2, episode=101), next_observations=True)
    config = CRLConfig(batch_size=16, hidden=(8,), latent_dim=4, critic="nce+c-learning", target_ema=0.1)
    state = agent.init(jax.random.PRNGKey(0), config, obs_dim=2, action_dim=2)
    state = state.replace(target={"critic": _perturbed(state.target["critic"], jax.random.PRNGKey(1))})
    new, _ = jax.jit(sample_and_update, static_argnums=2)(state, data, config)
    old_target, online = state.target["critic"], new.params["critic"]
    leaves = (jax.tree.leaves(x) for x in (old_target, online, new.target["critic"]))
    for t0, o, t1 in zip(*leaves, strict=True):
        np.testing.assert_allclose(t1, t0 + 0.1 * (o - t0), rtol=1e-6, atol=1e-7)
    assert agent.init(jax.random.PRNGKey(0), CRLConfig(), 2, 2).target == {}  # NCE keeps no target


def test_awr_loss_matches_hand_computation():
    config = CRLConfig(batch_size=8, hidden=(8,), latent_dim=4, actor_loss="awr", alpha=2.0)
    state = agent.init(jax.random.PRNGKey(0), config, obs_dim=2, action_dim=2)
    batch = _batch(jax.random.PRNGKey(3), n=8, with_next=False)
    loss, info = agent.actor_loss(config, state.params, batch, jax.random.PRNGKey(0))
    q = np.asarray(
        agent.q_values(config, state.params["critic"], batch.observations, batch.actions, batch.actor_goals)
    ).min(0)
    v = np.asarray(agent._v(config, state.params["value"], batch))
    mean, log_std = agent.actor_net(config, 2).apply(
        {"params": state.params["actor"]}, batch.observations, batch.actor_goals
    )
    log_lik = np.asarray(gaussian_log_prob(batch.actions, mean, log_std))
    weight = np.minimum(np.exp(2.0 * (q - v)), 100.0)
    np.testing.assert_allclose(float(loss), -(weight * log_lik).mean(), rtol=1e-5)
    np.testing.assert_allclose(float(info["adv"]), (q - v).mean(), rtol=1e-4, atol=1e-6)


def test_sac_temperature_moves_toward_the_target_entropy():
    config = CRLConfig(batch_size=32, hidden=(8,), latent_dim=4, actor_loss="sac", target_entropy=-10.0)
    state = agent.init(jax.random.PRNGKey(0), config, obs_dim=2, action_dim=2)
    batch = _batch(jax.random.PRNGKey(4), n=32, with_next=False)
    grads = jax.grad(lambda p: agent.actor_loss(config, p, batch, jax.random.PRNGKey(5))[0])(state.params)
    # Entropy (about 2.8 nats for a unit Gaussian in 2-D) is above the target: the temperature must fall,
    # so the gradient on log_alpha is positive; the temperature loss leaves the critic alone.
    assert float(grads["log_alpha"]) > 0
    assert all(float(jnp.abs(g).max()) == 0 for g in jax.tree.leaves(grads["critic"]))


def test_gaussian_log_prob():
    x, mean, log_std = jnp.array([[1.0, -1.0]]), jnp.array([[0.0, 0.0]]), jnp.array([[0.0, math.log(2.0)]])
    expected = (
        -0.5 * 1.0 - 0.5 * math.log(2 * math.pi) + (-0.5 * 0.25 - math.log(2.0) - 0.5 * math.log(2 * math.pi))
    )
    assert float(gaussian_log_prob(x, mean, log_std)[0]) == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("repr_norm", ["l2", "tanh"])
def test_representation_normalisations_bound_the_logits(repr_norm):
    config = CRLConfig(batch_size=8, hidden=(8,), latent_dim=4, repr_norm=repr_norm, learned_temperature=True)
    state = agent.init(jax.random.PRNGKey(0), config, obs_dim=2, action_dim=2)
    batch = _batch(jax.random.PRNGKey(6), n=8, with_next=False)
    obs, goals = batch.observations * 100, batch.critic_goals * 100
    phi, psi, _ = agent._encode(config, state.params["critic"], obs, batch.actions, goals)
    logits = agent.pairwise(config, state.params["critic"], obs, batch.actions, goals)
    if repr_norm == "l2":  # length sqrt(d): the logits are sqrt(d) cos(phi, psi), not cos / sqrt(d)
        np.testing.assert_allclose(jnp.linalg.norm(phi, axis=-1), 2.0, rtol=1e-5)
        np.testing.assert_allclose(jnp.linalg.norm(psi, axis=-1), 2.0, rtol=1e-5)
        cos = jnp.einsum("eid,ejd->eij", phi, psi) / 4.0
        np.testing.assert_allclose(logits, 2.0 * cos, rtol=1e-5, atol=1e-6)
    assert float(jnp.abs(logits).max()) <= 4 / 2 + 1e-5  # |phi . psi| / sqrt(4) <= 4 / 2, log_scale 0
    assert "log_scale" in state.params["critic"]


def test_l2_normalised_critic_learns_as_the_unnormalised_one(tiny_data_dir):
    data = store.load(DATASET, tiny_data_dir, progress=False)
    train_data, val_data = to_device(data.train), to_device(data.val)
    accuracy = {}
    for repr_norm in ("none", "l2"):
        config = CRLConfig(batch_size=128, hidden=(64, 64), latent_dim=64, alpha=0.03, repr_norm=repr_norm)
        states, _ = run_chunk(initial_states(config, [0], 2, 2), train_data, config, 500)
        key = jax.random.PRNGKey(0)
        val = agent.validation_metrics(unstack(states, 0), val_data, config, key, batches=32)
        accuracy[repr_norm] = float(val["val/categorical_accuracy"])
    # Unit-length phi and psi (logits within +-1/8 here) stayed at chance, 1/128, over these updates.
    assert accuracy["l2"] > 1.5 / 128, accuracy
    assert accuracy["l2"] >= 0.5 * accuracy["none"], accuracy


def test_every_preset_builds_a_valid_config():
    for name in PRESETS:
        if name == "expert":  # online only: OGBench's locomotion experts
            for env in ("online-ant-xy", "online-humanoid-xy", "online-antball"):
                config = preset_config(name, None, env=env)
                config.validate()
                assert config.steps % config.collect == 0 and config.collect == make_env(env).episode_length
            continue
        config = preset_config(name, "antmaze-large-stitch-v0")
        config.validate()
        assert config.preset == name
    offline = preset_config("crl-paper-offline", "antmaze-large-navigate-v0").agent
    assert (offline.batch_size, offline.latent_dim, offline.hidden) == (1024, 16, (1024, 1024))
    assert offline.actor_p_trajgoal == 1.0  # Table 3: future goals for the actor
    online = preset_config("crl-paper-online", "antmaze-large-navigate-v0").agent
    assert (online.actor_p_randomgoal, online.actor_loss, online.target_entropy) == (1.0, "sac", 0.0)


# CI's reduced form trains one of each critic kind (CPC, C-learning) and the SAC actor; the losses of the
# others have their hand-computed tests above, and NCE + DDPG+BC is tests/test_end_to_end.py's run.
COMBOS = [
    ("cpc", "ddpgbc"),
    ("c-learning", "ddpgbc"),
    ("nce", "sac"),
    *([("nce", "ddpgbc"), ("nce+c-learning", "ddpgbc"), ("nce", "awr")] if FULL else []),
]


@pytest.mark.slow
@pytest.mark.parametrize("critic, actor_loss", COMBOS)
def test_critic_and_actor_combinations_learn(critic, actor_loss, tiny_data_dir, tmp_path):
    batch = 64
    config = tiny_config(
        tiny_data_dir,
        tmp_path / "run",
        agent=CRLConfig(
            batch_size=batch, hidden=(64, 64), latent_dim=32, alpha=0.03, discount=0.9, critic=critic,
            actor_loss=actor_loss,
        ),
        steps=3000 if FULL else 1000,
        log_every=250,
        checkpoint_every=3000,
        eval_episodes=1,
    )  # fmt: skip
    train(config)
    metrics = read_jsonl(tmp_path / "run" / "metrics.jsonl")
    last = np.mean([m["val/categorical_accuracy"] for m in metrics[-2:]])
    assert last > 3 / batch, (critic, actor_loss, last)
    for key in ("critic/loss", "actor/loss"):
        assert np.isfinite(metrics[-1][key])


def test_gcbc_trains_and_evaluates(tiny_data_dir, tmp_path):
    config = tiny_config(
        tiny_data_dir,
        tmp_path / "gcbc",
        agent=GCBCConfig(batch_size=64, hidden=(32, 32)),
        steps=200,
        eval_episodes=1,
    )
    config = dataclasses.replace(config, log_every=100, checkpoint_every=200)
    (result,) = train(config)
    metrics = read_jsonl(tmp_path / "gcbc" / "metrics.jsonl")
    assert metrics[-1]["actor/mse"] < metrics[0]["actor/mse"]
    assert len(result.task_success) == 5
