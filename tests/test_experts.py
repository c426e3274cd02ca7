"""The locomotion experts (issue 19, part 1): SAC on a reward, OGBench's locomotion tasks as seeded
episodes, and `crl expert train` through the shared chunk loop, resumable bit for bit."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from crl.agents import sac
from crl.checkpoint import Checkpoints
from crl.cli import main
from crl.config import SACConfig
from crl.data.transitions import empty_transitions, insert
from crl.envs import make_env, names
from crl.logs import read_jsonl
from crl.online import online_job
from crl.train import read_config

TARGET = np.array([0.5, -0.3], np.float32)


def test_sac_moves_its_policy_to_the_action_a_one_step_reward_prefers():
    """A one-step task (mask 0: no bootstrap) whose reward is -|a - a*|^2: the critic learns it and the
    deterministic action tanh(mean) settles near a*, against a policy that starts near 0."""
    config = SACConfig(
        batch_size=64, hidden=(32, 32), critic_hidden=(32, 32), lr=3e-3, target_entropy_scale=2.0
    )
    rng = np.random.default_rng(0)
    n = 4096
    obs = rng.normal(size=(n, 3)).astype(np.float32)
    actions = rng.uniform(-1, 1, (n, 2)).astype(np.float32)
    batch = {"observations": obs, "actions": actions, "rewards": -np.sum((actions - TARGET) ** 2, -1),
             "masks": np.zeros(n), "next_observations": obs}  # fmt: skip
    buffer = insert(empty_transitions(n, 3, 2), jax.tree.map(jnp.asarray, batch), jnp.int32(n))
    state = sac.init(jax.random.PRNGKey(0), config, 3, 2)

    @jax.jit
    def steps(state):
        return jax.lax.scan(
            lambda s, _: sac.update(s, sac.sample(s, buffer, config), config), state, None, 1500
        )

    before = np.asarray(sac.act(config, 2, state, jnp.asarray(obs[:256])))
    state, info = steps(state)
    after = np.asarray(sac.act(config, 2, state, jnp.asarray(obs[:256])))
    assert np.abs(before).max() < 0.2
    assert np.abs(after - TARGET).mean() < 0.1, after.mean(0)
    assert float(info["critic/loss"][-1]) < float(info["critic/loss"][0])


def test_a_locomotion_episode_is_a_function_of_its_seed_and_rewards_displacement_along_z():
    task = make_env("online-ant-xy")
    assert {"online-ant-xy", "online-humanoid-xy", "online-antball"} <= set(names())
    a, b = task.make(0), task.make(9)
    obs_a, stream = task.reset(a, (3, 1))
    obs_b, stream_b = task.reset(b, (3, 1))
    np.testing.assert_array_equal(obs_a, obs_b)
    direction = obs_a[-2:]
    assert stream == stream_b and abs(np.linalg.norm(direction) - 1) < 1e-6
    for t in range(120):  # across the redraw of z at step 100
        action = np.random.default_rng(t).uniform(-1, 1, 8)
        xy = a.unwrapped.data.qpos[:2].copy()
        obs_a, reward, _, info = task.step(a, action, stream, t)
        obs_b, *_ = task.step(b, action, stream, t)
        np.testing.assert_array_equal(obs_a, obs_b)
        np.testing.assert_allclose(reward, (a.unwrapped.data.qpos[:2] - xy) @ info["direction"], rtol=1e-6)
    assert not np.allclose(obs_a[-2:], direction)  # redrawn


# Rounds of one 1000-step episode; learning after the first; a small network.
FLAGS = ["--steps", "3000", "--random-steps", "1000", "--log-every", "1000", "--checkpoint-every", "1000",
         "--eval-every", "0", "--eval-episodes", "2", "--agent.batch-size", "32", "--agent.hidden", "32",
         "32", "--agent.critic-hidden", "32", "32", "--no-progress"]  # fmt: skip


def _final(run_dir, step):
    template = online_job(read_config(run_dir), [0], []).template()
    return Checkpoints(run_dir / "checkpoints").restore(template, step)


def test_expert_training_resumes_bit_identical_and_evaluates_its_objective(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CRL_DATA_DIR", str(tmp_path / "data"))
    assert main(["expert", "train", "ant", *FLAGS]) == 0
    straight = tmp_path / "data" / "experts" / "ant"
    split = tmp_path / "split"
    assert main(["expert", "train", "ant", *FLAGS, "--run-dir", str(split), "--steps", "2000"]) == 0
    assert main(["expert", "train", "ant", *FLAGS, "--run-dir", str(split), "--resume"]) == 0
    for x, y in zip(
        jax.tree.leaves(_final(straight, 3000)), jax.tree.leaves(_final(split, 3000)), strict=True
    ):
        np.testing.assert_array_equal(x, y)
    metrics = read_jsonl(straight / "metrics.jsonl")
    assert [m["step"] for m in metrics] == [1000, 2000, 3000]
    assert "critic/loss" not in metrics[0] and np.isfinite(metrics[-1]["critic/loss"])
    (evaluation,) = read_jsonl(straight / "eval.jsonl")
    assert set(evaluation) >= {"return", "speed"} and evaluation["tasks"]["online-ant-xy: stayed_up"] in (
        0,
        0.5,
        1,
    )
    assert abs(evaluation["speed"] - evaluation["return"] / (1000 * 0.1)) < 1e-6  # return / episode time
    assert main(["expert", "train", "cheetah"]) == 2
    assert _limit_masks(_final(straight, 3000), 1000) == [1.0, 1.0, 1.0]  # the ant bootstraps at its limit


def _limit_masks(carry, length: int) -> list[float]:
    """The mask of each round's last transition, for the rounds whose first episode ran to the limit."""
    masks = np.asarray(carry[1].replay.masks)[: int(carry[1].replay.inserted)]
    rounds = masks.reshape(-1, length)
    return [float(r[-1]) for r in rounds if r[:-1].all()]


def test_antball_s_time_limit_is_terminal_as_ogbench_s_run_sets_it(tmp_path, monkeypatch):
    """OGBench trains its antball expert with --terminate_at_end=1: the 200th step of an episode has mask
    0, where the ant's limit bootstraps (the test above)."""
    monkeypatch.setenv("CRL_DATA_DIR", str(tmp_path / "data"))
    flags = ["--steps", "1000", "--random-steps", "1000", "--checkpoint-every", "1000", "--log-every", "1000"]
    assert main(["expert", "train", "antball", *FLAGS, *flags]) == 0
    carry = _final(tmp_path / "data" / "experts" / "antball", 1000)
    assert carry[1].replay.inserted == 1000
    whole = _limit_masks(carry, 200)
    assert len(whole) >= 3 and whole == [0.0] * len(whole)
