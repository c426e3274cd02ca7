"""TD3 + HER: the sparse reward, the clipped double-Q target, and the delayed actor and target updates."""

from __future__ import annotations

import dataclasses
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from crl.agents import td3
from crl.config import TD3Config
from crl.data.sampling import Batch
from crl.errors import CrlError
from crl.presets import preset_config

CONFIG = TD3Config(batch_size=8, hidden=(16, 16), goal_radius=2.0)


def _batch(key, n=8):
    k = jax.random.split(key, 4)
    obs = jax.random.uniform(k[0], (n, 2), maxval=4.0)
    following = obs + jax.random.uniform(k[3], (n, 2), minval=-1, maxval=1)
    return Batch(
        observations=obs,
        actions=jax.random.uniform(k[1], (n, 2), minval=-1, maxval=1),
        critic_goals=obs,
        actor_goals=jax.random.uniform(k[2], (n, 2), maxval=4.0),
        next_observations=following,
        next_goals=following,
    )


def test_reward_is_one_only_within_the_goal_radius():
    next_obs = jnp.array([[0.0, 0.0], [0.0, 0.0], [3.0, 4.0]])
    goals = jnp.array([[1.9, 0.0], [2.0, 0.1], [3.0, 4.0]])
    np.testing.assert_array_equal(td3.reward(CONFIG, next_obs, goals), [1.0, 0.0, 1.0])


def test_td_target_takes_the_smaller_target_critic():
    config = dataclasses.replace(CONFIG, policy_noise=0.0)
    state = td3.init(jax.random.PRNGKey(0), config, 2, 2)
    target = jax.tree.map(lambda x: x + 0.3, state.target)  # targets apart from the critics
    batch = _batch(jax.random.PRNGKey(1))
    loss, _ = td3.critic_loss(config, state.params["critic"], target, batch, jax.random.PRNGKey(2))
    next_action = td3.policy(config, 2, target["actor"], batch.next_observations, batch.actor_goals)
    next_q = td3.q_values(config, target["critic"], batch.next_observations, next_action, batch.actor_goals)
    assert float(jnp.max(jnp.abs(next_q[0] - next_q[1]))) > 1e-3  # the two critics disagree
    r = td3.reward(config, batch.next_goals, batch.actor_goals)
    q = td3.q_values(config, state.params["critic"], batch.observations, batch.actions, batch.actor_goals)
    for combine, matches in ((jnp.min, True), (jnp.mean, False)):
        y = r + config.discount * combine(next_q, 0)
        expected = jnp.mean(jnp.sum((q - y) ** 2, 0))
        assert np.isclose(float(loss), float(expected), rtol=1e-5) == matches


def _differ(a, b) -> bool:
    return any(not np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True))


def test_actor_and_targets_move_only_every_policy_delay_updates():
    state = td3.init(jax.random.PRNGKey(0), CONFIG, 2, 2)
    batch = _batch(jax.random.PRNGKey(1))
    changed = []
    for _ in range(4):
        new, info = td3.update(state, batch, CONFIG)
        critic, actor = (_differ(state.params[k], new.params[k]) for k in ("critic", "actor"))
        changed.append((critic, actor, _differ(state.target, new.target)))
        state = new
    # (critic, actor, targets): the critic at every update, the actor and targets at updates 0 and 2.
    assert changed == [(True, True, True), (True, False, False), (True, True, True), (True, False, False)]
    assert np.isfinite(float(info["critic/loss"]))


def test_targets_move_by_target_ema_toward_the_networks():
    state = td3.init(jax.random.PRNGKey(0), CONFIG, 2, 2)
    new, _ = td3.update(state, _batch(jax.random.PRNGKey(1)), CONFIG)
    for t_old, t_new, p in zip(jax.tree.leaves(state.target), jax.tree.leaves(new.target),
                               jax.tree.leaves(new.params), strict=True):  # fmt: skip
        np.testing.assert_allclose(t_new, t_old + CONFIG.target_ema * (p - t_old), rtol=1e-6, atol=1e-7)


def test_exploration_adds_clipped_noise_to_the_policy():
    state = td3.init(jax.random.PRNGKey(0), CONFIG, 2, 2)
    obs, goals = jnp.zeros((2000, 2)), jnp.ones((2000, 2))
    greedy = td3.act(CONFIG, 2, state, obs, goals)
    noisy = td3.explore(CONFIG, 2, state, obs, goals, jax.random.PRNGKey(3))
    assert float(jnp.max(jnp.abs(noisy))) <= 1.0
    assert np.isclose(float(jnp.std(noisy - greedy)), CONFIG.explore_noise, rtol=0.1)


def test_td3_is_an_online_agent_with_the_environments_reward_radius():
    config = preset_config("quick", None, "td3her", env="point-u")
    assert isinstance(config.agent, TD3Config) and config.agent.goal_radius == 2.0
    assert preset_config("crl-paper-online", None, "td3her", env="point-u").agent.target_ema == 0.005
    with pytest.raises(CrlError, match="--agent td3her learns online only: give --env"):
        preset_config("quick", "pointmaze-medium-navigate-v0", "td3her")
    with pytest.raises(CrlError, match="--agent.target-ema must lie in"):
        dataclasses.replace(CONFIG, target_ema=0.0).validate()


def test_td3_trains_online_from_the_command_line_and_resumes_to_the_same_parameters(tmp_path, capsys):
    """`crl train --env ... --agent td3her` runs the shared online loop, logs TD3's losses, evaluates, and a
    run stopped at a checkpoint and resumed ends where an uninterrupted one does."""
    from crl.checkpoint import Checkpoints
    from crl.cli import main
    from crl.logs import read_jsonl
    from crl.online import online_job
    from crl.train import read_config

    flags = ["--env", "point-small", "--agent", "td3her", "--random-steps", "400", "--log-every", "400",
             "--checkpoint-every", "400", "--eval-every", "0", "--eval-episodes", "20", "--agent.batch-size",
             "32", "--agent.hidden", "32", "32", "--no-progress"]  # fmt: skip
    for run, steps, resume in (("straight", 1200, []), ("split", 800, []), ("split", 1200, ["--resume"])):
        args = ["train", *flags, "--env-steps", str(steps), "--run-dir", str(tmp_path / run), *resume]
        assert main(args) == 0
    capsys.readouterr()
    metrics = read_jsonl(tmp_path / "straight" / "metrics.jsonl")
    assert [m["step"] for m in metrics] == [400, 800, 1200]
    assert np.isfinite(metrics[-1]["critic/loss"]) and 0 < metrics[-1]["critic/q_mean"] < 1 / (1 - 0.99)
    assert 0.0 <= read_jsonl(tmp_path / "straight" / "eval.jsonl")[-1]["overall"] <= 1.0
    config = read_config(tmp_path / "straight")
    template = online_job(config, [0], []).template()
    straight = Checkpoints(tmp_path / "straight" / "checkpoints").restore(template, 1200)
    split = Checkpoints(tmp_path / "split" / "checkpoints").restore(template, 1200)
    for a, b in zip(jax.tree.leaves(straight), jax.tree.leaves(split), strict=True):
        np.testing.assert_array_equal(a, b)


def test_the_reward_reads_only_the_reward_dims_of_a_goal():
    """Robot goals have the state's layout; the reward compares the tracked position alone (fetch-push's
    block, 3:6), which the presets take from the task, as HER's reward reads the achieved goal."""
    config = TD3Config(goal_radius=0.05, reward_dims=(3, 4, 5))
    next_goals, goals = jnp.zeros((3, 7)), jnp.zeros((3, 7))
    goals = goals.at[0, 0:3].set(1.0).at[1, 3].set(0.1).at[2, 6].set(1.0)
    np.testing.assert_array_equal(td3.reward(config, next_goals, goals), [1.0, 0.0, 1.0])
    assert preset_config("quick", None, "td3her", env="fetch-push").agent.reward_dims == (3, 4, 5)
    assert preset_config("quick", None, "td3her", env="ant-umaze").agent.reward_dims is None  # goals: XY


def test_on_images_the_reward_compares_the_positions_the_frames_show():
    """TD3 + HER on point-u-image: the replay keeps, beside each frame, the position it shows, and in a
    sampled minibatch s' and every relabelled goal are frames of exactly the positions the reward
    compares (frames themselves cannot be compared by distance)."""
    from crl.envs import make_env
    from crl.envs.point_images import render
    from crl.online import Rounds, init_collector, run_online_chunk
    from crl.train import initial_states, stack

    config = preset_config("quick", None, "td3her", env="point-u-image")
    assert (config.agent.encoder, config.agent.reward_dims, config.collect) == ("nature", None, 64)  # Table 2
    config = dataclasses.replace(config, num_envs=2, collect=10, replay_size=200)
    env = make_env("point-u-image")
    states = initial_states(dataclasses.replace(config.agent, encoder="identity"), [0], 2, 2)  # not used
    collectors = stack([init_collector(env, config, seed=0)])
    _, collectors, _ = run_online_chunk(  # 15 rounds of 5 random steps per environment: 1.5 episodes each
        states, collectors, env, Rounds.of(config), config.agent, 15, False, jnp.int32(0)
    )
    replay = jax.tree.map(lambda x: x[0], collectors.replay)
    assert replay.episode_coords.shape == (4, 51, 2) and int(replay.inserted) == 2
    batch = td3.draw(jax.random.PRNGKey(3), replay, dataclasses.replace(config.agent, batch_size=256))
    draw = jax.vmap(lambda position: render(env, position))
    np.testing.assert_array_equal(draw(batch.next_coords), batch.next_observations)
    np.testing.assert_array_equal(draw(batch.actor_goal_coords), batch.actor_goals)
    r = td3.reward(config.agent, *td3.reward_coordinates(batch))
    gap = np.linalg.norm(np.asarray(batch.next_coords - batch.actor_goal_coords), axis=-1)
    np.testing.assert_array_equal(r, gap < env.success_radius)
    assert 0 < float(r.mean()) < 1


def test_td3_critics_and_actor_read_images_through_their_own_encoders():
    """On states the critic is exactly the MLP on [s, a, g] it always was (same parameters); on frames each
    network has a CNN, and no CNN without frames."""
    state = td3.init(jax.random.PRNGKey(0), CONFIG, 2, 2)
    assert "encoder" not in state.params["critic"] and "Dense_2" in state.params["critic"]
    with pytest.raises(CrlError, match="these observations are 64x64x3 images: add --agent.encoder nature"):
        td3.init(jax.random.PRNGKey(0), CONFIG, (64, 64, 3), 2)
    images = dataclasses.replace(CONFIG, encoder="nature")
    state = jax.jit(td3.init, static_argnums=(1, 2, 3))(jax.random.PRNGKey(0), images, (64, 64, 3), 2)
    assert "encoder" in state.params["critic"] and "encoder" in state.params["actor"]
    assert all(x.shape[0] == 2 for x in jax.tree.leaves(state.params["critic"]["encoder"]))  # one per critic
    frames = jax.random.randint(jax.random.PRNGKey(1), (3, 64, 64, 3), 0, 256).astype(jnp.uint8)
    q = td3.q_values(images, state.params["critic"], frames, jnp.zeros((3, 2)), frames[::-1])
    assert q.shape == (2, 3) and len(set(np.asarray(q[0]).round(6))) == 3  # each (frame, goal) its own Q


def test_the_preactivation_penalty_pulls_a_saturated_actor_back():
    """HER's penalty on the actor's pre-tanh output u: where u is so large that tanh's gradient vanishes,
    -Q alone gives the actor no gradient, and the penalty's gradient step shrinks |u|."""
    state = td3.init(jax.random.PRNGKey(0), CONFIG, 2, 2)
    actor = state.params["actor"]
    saturated = {**actor, "mean": {**actor["mean"], "bias": jnp.array([20.0, -20.0])}}
    batch = _batch(jax.random.PRNGKey(1))
    critic = state.params["critic"]

    def step(config):
        return jax.value_and_grad(partial(td3.actor_loss, config), has_aux=True)(saturated, critic, batch)

    _, no_penalty = step(dataclasses.replace(CONFIG, action_l2=0.0))
    assert max(float(jnp.max(jnp.abs(g))) for g in jax.tree.leaves(no_penalty)) < 1e-6
    (loss, info), grads = step(CONFIG)
    u = td3.preactivation(CONFIG, 2, saturated, batch.observations, batch.actor_goals)
    q = td3.q_values(CONFIG, critic, batch.observations, jnp.tanh(u), batch.actor_goals)[0]
    np.testing.assert_allclose(loss, -jnp.mean(q) + CONFIG.action_l2 * jnp.mean(u**2), rtol=1e-6)
    stepped = jax.tree.map(lambda p, g: p - 1e-3 * g, saturated, grads)
    u_after = td3.preactivation(CONFIG, 2, stepped, batch.observations, batch.actor_goals)
    assert float(jnp.mean(jnp.abs(u_after))) < float(jnp.mean(jnp.abs(u))) - 1e-3
    assert float(info["preactivation_sq"]) > 300  # about 20^2
