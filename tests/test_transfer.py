"""Transfer (CRL paper F.4): `crl train --init-from` starts the critic from another run's, and
`crl analyze transfer` groups runs' success curves by the task their critic came from."""

from __future__ import annotations

import csv
import dataclasses

import jax
import numpy as np
import pytest

from crl.cli import main
from crl.config import TrainConfig
from crl.errors import CrlError
from crl.logs import read_jsonl
from crl.presets import preset_config
from crl.train import latest_agent, train


def _config(env: str, run_dir, agent: str = "crl", **changes) -> TrainConfig:
    """224 random steps (no update), evaluated at steps 112 and 224 on 4 episodes."""
    config = preset_config("quick", None, agent, env=env)
    small = dict(batch_size=32, hidden=(32, 32)) | ({"latent_dim": 16} if agent == "crl" else {})
    base = dataclasses.replace(
        config, agent=dataclasses.replace(config.agent, **small), steps=224, random_steps=224, log_every=112,
        checkpoint_every=224, eval_every=112, eval_episodes=4, run_dir=run_dir, progress=False,
    )  # fmt: skip
    return dataclasses.replace(base, **changes)


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("transfer") / "source"
    train(_config("point-fourrooms", run_dir, seed=5))
    return run_dir


def test_init_from_copies_the_critic_and_leaves_the_actor_fresh(source, tmp_path):
    train(_config("point-cross", tmp_path / "target", seeds=2, init_from=source))
    _, theirs = latest_agent(source)
    for seed in (0, 1):  # no updates yet: every seed's critic is still the source's
        _, ours = latest_agent(tmp_path / "target" / f"seed{seed}")
        jax.tree.map(np.testing.assert_array_equal, ours.params["critic"], theirs.params["critic"])
    actors = [p["actor"] for p in (theirs.params, ours.params)]
    assert not all(jax.tree.leaves(jax.tree.map(np.array_equal, *actors)))


def test_init_from_refuses_another_layout_or_agent_in_one_line(source, tmp_path):
    mismatched = _config("point-cross", tmp_path / "a", init_from=source)
    mismatched = dataclasses.replace(mismatched, agent=dataclasses.replace(mismatched.agent, latent_dim=8))
    with pytest.raises(CrlError, match=r"--init-from .*critic's .* is \(.*\) there, \(.*\) here"):
        train(mismatched)
    with pytest.raises(CrlError, match="trained crl and this run trains td3her"):
        train(_config("point-cross", tmp_path / "b", agent="td3her", init_from=source))
    assert main(["train", "--env", "point-u", "--init-from", str(tmp_path / "none"), "--steps", "16"]) == 2


def test_analyze_transfer_pools_seeds_by_target_and_source(source, tmp_path, capsys):
    scratch, moved = tmp_path / "scratch", tmp_path / "moved"
    train(_config("point-cross", scratch))
    train(_config("point-cross", moved, seeds=2, init_from=source))
    out = tmp_path / "out"
    assert main(["analyze", "transfer", str(source), str(scratch), str(moved), "--out", str(out)]) == 0
    with (out / "transfer.csv").open() as f:
        table = {(r["target"], r["source"], int(r["step"])): r for r in csv.DictReader(f)}
    pairs = [("point-fourrooms", "scratch"), ("point-cross", "scratch"),
             ("point-cross", "point-fourrooms")]  # fmt: skip
    assert set(table) == {(target, source, step) for target, source in pairs for step in (112, 224)}
    pooled = [r["overall"] for seed in (0, 1) for r in read_jsonl(moved / f"seed{seed}" / "eval.jsonl")
              if r["step"] == 224]  # fmt: skip
    row = table[("point-cross", "point-fourrooms", 224)]
    assert int(row["seeds"]) == 2 and float(row["success_mean"]) == pytest.approx(np.mean(pooled), abs=1e-5)
    assert (out / "transfer.png").stat().st_size > 0
    assert "point-cross from point-fourrooms:" in capsys.readouterr().out
