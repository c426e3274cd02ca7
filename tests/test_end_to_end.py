"""Training on a small generated dataset learns: the critic separates positives on held-out data."""

import os

import pytest

from crl.config import CRLConfig
from crl.logs import read_jsonl
from crl.train import evaluate_run, train
from tests.conftest import tiny_config

# CI runs the reduced form; CRL_TEST_SCALE=full runs the longer one.
FULL = os.environ.get("CRL_TEST_SCALE") == "full"


@pytest.mark.slow
def test_critic_accuracy_rises_well_above_chance_and_the_run_evaluates(tiny_data_dir, tmp_path):
    batch = 64
    config = tiny_config(
        tiny_data_dir,
        tmp_path / "run",
        # A short horizon (discount 0.9) makes positives separable within a 1500-step budget.
        agent=CRLConfig(batch_size=batch, hidden=(64, 64), latent_dim=32, alpha=0.03, discount=0.9),
        steps=6000 if FULL else 1500,
        log_every=250,
        checkpoint_every=1500,
        eval_episodes=2,
    )
    (result,) = train(config)
    metrics = read_jsonl(tmp_path / "run" / "metrics.jsonl")
    chance = 1 / batch
    first = metrics[0]["val/categorical_accuracy"]
    last = sum(m["val/categorical_accuracy"] for m in metrics[-3:]) / 3
    assert last > 5 * chance, (first, last)
    assert last > first
    assert metrics[-1]["critic/loss"] < metrics[0]["critic/loss"]
    assert len(result.task_success) == 5
    evals = read_jsonl(tmp_path / "run" / "eval.jsonl")
    assert evals[-1]["step"] == config.steps
    # `crl eval` re-evaluates the latest checkpoint with the same protocol and seed: same numbers.
    (again,), _ = evaluate_run(tmp_path / "run", progress=False)
    assert again.task_success == result.task_success
