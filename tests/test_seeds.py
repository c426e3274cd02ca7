"""Many seeds in one compiled program, and their evaluation in shared environment steps."""

import dataclasses
import os

import gymnasium
import jax
import numpy as np

from crl.agents import crl as agent
from crl.checkpoint import Checkpoints
from crl.config import CRLConfig
from crl.evaluation import evaluate_seeds, reset_episode
from crl.logs import read_jsonl
from crl.train import evaluate_run, policy_for, stack, train, unstack
from tests.conftest import tiny_config

ENV = "pointmaze-medium-v0"
FULL = os.environ.get("CRL_TEST_SCALE") == "full"


def _params(run_dir, config):
    ckpt = Checkpoints(run_dir / "checkpoints")
    try:
        return ckpt.restore(agent.init(jax.random.PRNGKey(0), config.agent, 2, 2))
    finally:
        ckpt.close()


def _close(a, b):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=2e-5, atol=2e-6)


def test_vmapped_seeds_match_separate_runs(tiny_data_dir, tmp_path):
    group = tiny_config(tiny_data_dir, tmp_path / "group", seeds=2, seed=3, eval_episodes=1)
    results = train(group)
    assert len(results) == 2
    for seed in (3, 4) if FULL else (4,):  # reduced form: the second seed of the group, the harder case
        alone = tiny_config(tiny_data_dir, tmp_path / f"alone{seed}", seed=seed, eval_episodes=1)
        (result,) = train(alone)
        _close(_params(tmp_path / "group" / f"seed{seed}", alone), _params(tmp_path / f"alone{seed}", alone))
        group_metrics = read_jsonl(tmp_path / "group" / f"seed{seed}" / "metrics.jsonl")
        alone_metrics = read_jsonl(tmp_path / f"alone{seed}" / "metrics.jsonl")
        np.testing.assert_allclose(
            group_metrics[-1]["critic/loss"], alone_metrics[-1]["critic/loss"], rtol=1e-4
        )
        assert results[seed - 3].task_success == result.task_success
    # Each seed directory is a run directory of its own: `crl eval` takes it, and the group.
    (single,), _ = evaluate_run(tmp_path / "group" / "seed4", progress=False)
    both, _ = evaluate_run(tmp_path / "group", progress=False)
    assert single.task_success == both[1].task_success


def test_resuming_a_group_matches_an_uninterrupted_group(tiny_data_dir, tmp_path):
    straight = tiny_config(tiny_data_dir, tmp_path / "straight", seeds=2)
    train(straight)
    half = tiny_config(tiny_data_dir, tmp_path / "split", seeds=2, steps=20)
    train(half)
    train(dataclasses.replace(half, steps=40, resume=True))
    for seed in (0, 1):
        a = _params(tmp_path / "straight" / f"seed{seed}", straight)
        b = _params(tmp_path / "split" / f"seed{seed}", straight)
        assert int(a.step) == int(b.step) == 40
        _close(a, b)


def test_batched_evaluation_starts_like_one_at_a_time():
    seen = {}

    def recording(obs, goals):
        seen.setdefault("obs", obs.copy())
        seen.setdefault("goals", goals.copy())
        return np.zeros_like(obs)

    evaluate_seeds(ENV, recording, episodes=2, seeds=[5, 9], progress=False)
    env = gymnasium.make(ENV)
    row = 0
    for seed in (5, 9):
        for task in range(1, 6):
            for episode in range(2):
                obs, goal = reset_episode(env, seed, task, episode)
                np.testing.assert_array_equal(seen["obs"][row], obs)
                np.testing.assert_array_equal(seen["goals"][row], goal)
                row += 1


def test_batched_policy_matches_one_call_per_episode():
    config = CRLConfig(batch_size=8, hidden=(16,), latent_dim=8)
    states = [agent.init(jax.random.PRNGKey(s), config, 2, 2) for s in (0, 1, 2)]
    policy = policy_for(stack(states), config, 2, n_seeds=3)
    rng = np.random.default_rng(0)
    obs, goals = (
        rng.normal(size=(3 * 4, 2)).astype(np.float32),
        rng.normal(size=(3 * 4, 2)).astype(np.float32),
    )
    batched = policy(obs, goals)
    for row in range(12):
        state = unstack(stack(states), row // 4)
        single = np.asarray(agent.act(config, 2, state, obs[row : row + 1], goals[row : row + 1]))[0]
        np.testing.assert_allclose(batched[row], single, rtol=1e-5, atol=1e-6)


def test_evaluation_in_waves_gives_the_same_results_as_one_wave():
    sizes = []

    def toward_goal(obs, goals):  # succeeds on some tasks and not others: a result worth comparing
        sizes.append(len(obs))
        return np.clip(3.0 * (goals - obs), -1.0, 1.0)

    whole = evaluate_seeds(ENV, toward_goal, episodes=2, seeds=[5, 9], progress=False)
    assert set(sizes) == {20}
    sizes.clear()
    waves = evaluate_seeds(ENV, toward_goal, episodes=2, seeds=[5, 9], progress=False, max_envs=4)
    assert set(sizes) == {4}  # 2 rows per seed per wave, seed-major
    assert [r.task_success for r in waves] == [r.task_success for r in whole]
    assert 0.0 < np.mean([r.overall for r in whole]) < 1.0
