import math

import jax
import jax.numpy as jnp
import numpy as np

from crl.agents import crl as agent
from crl.agents.losses import contrastive_metrics, critic_logits, nce_binary_loss
from crl.config import CRLConfig
from crl.data.sampling import Batch


def _sigmoid(x):
    return 1.0 / (1.0 + math.exp(-x))


def test_nce_binary_loss_matches_hand_computation():
    logits = np.array([[2.0, -1.0, 0.5], [0.3, 1.5, -2.0], [-0.7, 0.0, 3.0]])
    total = 0.0
    for i in range(3):
        for j in range(3):
            p = _sigmoid(logits[i, j])
            total += -math.log(p) if i == j else -math.log(1 - p)
    assert np.isclose(float(nce_binary_loss(jnp.asarray(logits))), total / 9, rtol=1e-6)


def test_nce_binary_loss_is_stable_for_large_logits():
    logits = jnp.array([[80.0, -90.0], [100.0, 90.0]])
    # Exact: diagonal positives cost ~0, off-diagonal (0,1) ~0, (1,0) costs 100.
    assert np.isclose(float(nce_binary_loss(logits)), 100.0 / 4, rtol=1e-5)


def test_nce_binary_loss_averages_over_ensemble():
    a = jnp.array([[1.0, -1.0], [0.5, 2.0]])
    b = jnp.array([[-1.0, 0.0], [1.0, -0.5]])
    both = nce_binary_loss(jnp.stack([a, b]))
    assert np.isclose(float(both), (float(nce_binary_loss(a)) + float(nce_binary_loss(b))) / 2, rtol=1e-6)


def test_critic_logits_are_scaled_inner_products():
    phi = jnp.array([[1.0, 2.0, 0.0, 1.0], [0.0, 1.0, 1.0, 0.0]])
    psi = jnp.array([[1.0, 0.0, 0.0, 1.0], [2.0, 2.0, 2.0, 2.0]])
    expected = np.array([[2.0, 8.0], [0.0, 4.0]]) / 2.0  # / sqrt(4)
    np.testing.assert_allclose(critic_logits(phi, psi), expected, rtol=1e-6)


def test_contrastive_metrics_on_a_known_matrix():
    logits = jnp.array([[1.0, -1.0, -2.0], [2.0, 0.5, -1.0], [-1.0, -3.0, -0.5]])
    m = contrastive_metrics(logits)
    # Rows' argmax: 0, 0, 2 -> rows 0 and 2 are right.
    assert np.isclose(float(m["categorical_accuracy"]), 2 / 3)
    # (logit > 0) == label: diag 1,0.5,-0.5 -> T,T,F ; off-diag -1,-2,2,-1,-1,-3 -> T,T,F,T,T,T
    assert np.isclose(float(m["binary_accuracy"]), 7 / 9)
    assert np.isclose(float(m["logits_pos"]), (1.0 + 0.5 - 0.5) / 3)
    assert np.isclose(float(m["logits_neg"]), (-1 - 2 + 2 - 1 - 1 - 3) / 6)
    # An ensemble: accuracies are those of the members' mean logits (OGBench's), not the members' mean.
    other = jnp.array([[-3.0, 1.0, 0.0], [0.0, 1.5, -1.0], [1.0, 1.0, 2.5]])
    pair = contrastive_metrics(jnp.stack([logits, other]))
    single = contrastive_metrics((logits + other) / 2)
    for key in ("binary_accuracy", "categorical_accuracy", "logits_pos", "logits_neg"):
        assert np.isclose(float(pair[key]), float(single[key])), key
    members = np.mean([float(contrastive_metrics(x)["binary_accuracy"]) for x in (logits, other)])
    assert not np.isclose(float(pair["binary_accuracy"]), members)


def _tiny_batch(key, n=4, dim=2):
    ks = jax.random.split(key, 3)
    obs, goals = jax.random.normal(ks[0], (n, dim)), jax.random.normal(ks[1], (n, dim))
    actions = jax.random.uniform(ks[2], (n, dim), minval=-1, maxval=1)
    return Batch(obs, actions, goals, goals)


def test_actor_loss_is_normalised_ddpg_plus_gaussian_bc():
    config = CRLConfig(batch_size=4, hidden=(8,), latent_dim=4, alpha=0.5)
    state = agent.init(jax.random.PRNGKey(0), config, obs_dim=2, action_dim=2)
    batch = _tiny_batch(jax.random.PRNGKey(1))
    obs, actions, goals = batch.observations, batch.actions, batch.actor_goals
    loss, info = agent.actor_loss(config, state.params, batch, jax.random.PRNGKey(0))

    mean, _ = agent.actor_net(config, 2).apply({"params": state.params["actor"]}, obs, goals)
    q_each = agent.q_values(config, state.params["critic"], obs, jnp.clip(mean, -1, 1), goals)
    q = np.minimum(np.asarray(q_each[0]), np.asarray(q_each[1]))
    q_loss = -q.mean() / (np.abs(q).mean() + 1e-6)
    nll = 0.5 * np.sum((np.asarray(mean) - np.asarray(actions)) ** 2, -1) + math.log(2 * math.pi)
    np.testing.assert_allclose(float(info["q_loss"]), q_loss, rtol=1e-5)
    np.testing.assert_allclose(float(loss), q_loss + 0.5 * nll.mean(), rtol=1e-5)


def test_each_network_is_trained_by_its_own_loss_only():
    config = CRLConfig(batch_size=4, hidden=(8,), latent_dim=4)
    state = agent.init(jax.random.PRNGKey(0), config, obs_dim=2, action_dim=2)
    batch, key = _tiny_batch(jax.random.PRNGKey(2)), jax.random.PRNGKey(3)
    total = jax.grad(lambda p: agent.total_loss(p, state.target, config, batch, key)[0])(state.params)
    k_critic, k_actor = jax.random.split(key)
    critic_only = jax.grad(lambda p: agent.critic_loss(config, p, state.target, batch, k_critic)[0])(
        state.params
    )
    actor_only = jax.grad(lambda p: agent.actor_loss(config, p, batch, k_actor)[0])(state.params)
    for a, b in zip(jax.tree.leaves(total["critic"]), jax.tree.leaves(critic_only["critic"]), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    for a, b in zip(jax.tree.leaves(total["actor"]), jax.tree.leaves(actor_only["actor"]), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    # The actor's objective does depend on the critic's parameters: only the stop_gradient keeps them apart.
    q_grad = jax.grad(
        lambda c: agent.q_values(config, c, batch.observations, batch.actions, batch.actor_goals).sum()
    )(state.params["critic"])
    assert any(float(jnp.abs(g).max()) > 0 for g in jax.tree.leaves(q_grad))
    assert all(float(jnp.abs(g).max()) == 0 for g in jax.tree.leaves(actor_only["critic"]))
