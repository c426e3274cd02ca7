import dataclasses
import json
import shutil
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest

from crl.agents import crl as agent
from crl.checkpoint import Checkpoints
from crl.config import from_dict, to_dict
from crl.errors import CrlError
from crl.logs import read_jsonl
from crl.train import boundaries, train
from tests.conftest import kill_at_checkpoint, tiny_config


def _final_params(run_dir, config):
    template = agent.init(jax.random.PRNGKey(0), config.agent, 2, 2)
    ckpt = Checkpoints(run_dir / "checkpoints")
    try:
        return ckpt.restore(template)
    finally:
        ckpt.close()


def _assert_same(a, b):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_boundaries_cover_log_checkpoint_eval_and_end():
    config = tiny_config(None, None, steps=45, log_every=10, checkpoint_every=20, eval_every=15)
    assert boundaries(0, config) == [10, 15, 20, 30, 40, 45]
    assert boundaries(20, config) == [30, 40, 45]


def test_resume_gives_the_same_parameters_as_an_uninterrupted_run(tiny_data_dir, tmp_path):
    straight = tiny_config(tiny_data_dir, tmp_path / "straight")
    train(straight)
    first_half = tiny_config(tiny_data_dir, tmp_path / "split", steps=20)
    train(first_half)
    train(dataclasses.replace(first_half, steps=40, resume=True))
    a, b = _final_params(tmp_path / "straight", straight), _final_params(tmp_path / "split", straight)
    assert int(a.step) == int(b.step) == 40
    _assert_same(a, b)
    steps = [r["step"] for r in read_jsonl(tmp_path / "split" / "metrics.jsonl")]
    assert steps == [10, 20, 30, 40]


def test_resume_drops_records_logged_after_the_checkpoint_and_redoes_a_missed_evaluation(
    tiny_data_dir, tmp_path
):
    config = tiny_config(tiny_data_dir, tmp_path / "run", eval_every=20, eval_episodes=1)
    train(config)
    # As if killed after logging step 40 and during the evaluation at 20, before checkpoint 40 existed.
    shutil.rmtree(tmp_path / "run" / "checkpoints" / "40")
    evals = read_jsonl(tmp_path / "run" / "eval.jsonl")
    (tmp_path / "run" / "eval.jsonl").write_text("")
    train(dataclasses.replace(config, resume=True))
    assert [r["step"] for r in read_jsonl(tmp_path / "run" / "metrics.jsonl")] == [10, 20, 30, 40]
    resumed = read_jsonl(tmp_path / "run" / "eval.jsonl")
    assert [r["step"] for r in evals] == [r["step"] for r in resumed] == [20, 40]


def test_a_finished_run_dir_is_not_overwritten(tiny_data_dir, tmp_path):
    config = tiny_config(tiny_data_dir, tmp_path / "run", steps=10)
    train(config)
    with pytest.raises(CrlError, match="already holds a run: add --resume"):
        train(config)


def test_run_dir_records_config_metrics_and_versions(tiny_data_dir, tmp_path):
    config = tiny_config(tiny_data_dir, tmp_path / "run", steps=20)
    train(config)
    record = json.loads((tmp_path / "run" / "config.json").read_text())
    assert from_dict(record["config"]) == config
    assert {"jax", "flax", "optax", "ogbench", "mujoco", "crl"} <= set(record["versions"])
    metrics = read_jsonl(tmp_path / "run" / "metrics.jsonl")
    for key in (
        "critic/loss",
        "critic/binary_accuracy",
        "critic/categorical_accuracy",
        "critic/logits_pos",
        "critic/logits_neg",
        "actor/q_loss",
        "actor/bc_loss",
        "val/categorical_accuracy",
        "updates_per_s",
    ):
        assert np.isfinite(metrics[-1][key]), key
    assert any(p.name.startswith("events") for p in (tmp_path / "run" / "tensorboard").iterdir())


def test_config_round_trips_through_json():
    config = tiny_config(Path("/data"), Path("/run"))
    assert from_dict(json.loads(json.dumps(to_dict(config)))) == config


def test_divergence_is_reported_as_one_line(tiny_data_dir, tmp_path):
    config = tiny_config(tiny_data_dir, tmp_path / "run", steps=30)
    config = dataclasses.replace(config, agent=dataclasses.replace(config.agent, lr=1e30))
    with pytest.raises(CrlError, match="training diverged by step"):
        train(config)


@pytest.mark.slow
def test_killed_process_resumes_to_the_same_parameters(tiny_data_dir, tmp_path):
    flags = [
        "--data-dir",
        str(tiny_data_dir),
        "--steps",
        "600",
        "--log-every",
        "50",
        "--checkpoint-every",
        "100",
        "--eval-episodes",
        "0",
        "--agent.batch-size",
        "32",
        "--agent.hidden",
        "32",
        "32",
        "--agent.latent-dim",
        "16",
        "--no-progress",
    ]
    cmd = [sys.executable, "-m", "crl.cli", "train", *flags]
    subprocess.run([*cmd, "--run-dir", str(tmp_path / "straight")], check=True, capture_output=True)

    killed = tmp_path / "killed"
    saved = kill_at_checkpoint([*cmd, "--run-dir", str(killed)], killed, 200)
    assert saved and saved[-1] < 600, "the run finished before it could be killed"
    subprocess.run([*cmd, "--run-dir", str(killed), "--resume"], check=True, capture_output=True)

    config = from_dict(json.loads((killed / "config.json").read_text())["config"])
    _assert_same(_final_params(tmp_path / "straight", config), _final_params(killed, config))


def test_resume_without_a_checkpoint_says_it_starts_a_new_run(tiny_data_dir, tmp_path, capsys):
    config = tiny_config(tiny_data_dir, tmp_path / "run", steps=10, resume=True)
    train(config)
    assert f"no checkpoint in {tmp_path / 'run'}: starting a new run" in capsys.readouterr().out
    assert int(_final_params(tmp_path / "run", config).step) == 10


def _damage(step_dir, how):
    files = [p for p in step_dir.rglob("*") if p.is_file() and p.name != "crl-sha256.json"]
    if how == "truncated":  # every file cut in half, as a disk filling up mid-copy would
        for path in files:
            path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    else:  # one byte of the largest file changed, its size kept: only the checksum can tell
        path = max(files, key=lambda p: p.stat().st_size)
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0xFF
        path.write_bytes(bytes(data))


@pytest.mark.parametrize("how", ["truncated", "one-byte"])
def test_a_damaged_latest_checkpoint_falls_back_to_the_complete_one(how, tiny_data_dir, tmp_path, capsys):
    straight = tiny_config(tiny_data_dir, tmp_path / "straight")  # checkpoints at 20 and 40
    train(straight)
    config = tiny_config(tiny_data_dir, tmp_path / "run")
    train(config)
    _damage(tmp_path / "run" / "checkpoints" / "40", how)
    capsys.readouterr()
    train(dataclasses.replace(config, resume=True))
    out = capsys.readouterr().out
    assert f"checkpoint 40 in {tmp_path / 'run'} is damaged (" in out
    assert "resuming from checkpoint 20, the newest complete one" in out
    assert (tmp_path / "run" / "damaged-checkpoints" / "40").is_dir()
    _assert_same(_final_params(tmp_path / "straight", straight), _final_params(tmp_path / "run", config))


def test_no_complete_checkpoint_names_the_damaged_one(tiny_data_dir, tmp_path):
    config = tiny_config(tiny_data_dir, tmp_path / "run")
    train(config)
    for step in (20, 40):
        _damage(tmp_path / "run" / "checkpoints" / str(step), "truncated")
    with pytest.raises(CrlError, match="checkpoint 40 in .* is damaged .* no older checkpoint is complete"):
        train(dataclasses.replace(config, resume=True))


def test_a_run_directory_in_use_is_refused_until_its_process_lets_go(tiny_data_dir, tmp_path):
    config = tiny_config(tiny_data_dir, tmp_path / "run", steps=10)
    train(config)
    before = _final_params(tmp_path / "run", config)
    holder = subprocess.Popen(  # holds the run directory as a process training there does
        [sys.executable, "-c", "import sys; from crl.locks import run_lock\n"
         f"with run_lock({str(tmp_path / 'run')!r}):\n    print('held', flush=True); sys.stdin.readline()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert holder.stdout.readline() == "held\n"
    resume = dataclasses.replace(config, steps=20, resume=True)
    with pytest.raises(CrlError, match=rf"in use by another crl process \(pid {holder.pid}\)"):
        train(resume)
    _assert_same(before, _final_params(tmp_path / "run", config))  # nothing written meanwhile
    holder.communicate("\n", timeout=60)
    train(resume)
    assert int(_final_params(tmp_path / "run", config).step) == 20


def test_a_full_disk_at_a_checkpoint_is_one_line_and_the_run_resumes(tiny_data_dir, tmp_path, monkeypatch):
    config = tiny_config(tiny_data_dir, tmp_path / "run", steps=30, log_every=10, checkpoint_every=10)
    real = ocp.CheckpointManager.save

    def save(manager, step, *args, **kwargs):
        if step == 20:  # as tensorstore reports it, through orbax
            raise ValueError("RESOURCE_EXHAUSTED: No space left on device [os_error_code='28']")
        return real(manager, step, *args, **kwargs)

    monkeypatch.setattr(ocp.CheckpointManager, "save", save)
    with pytest.raises(CrlError, match="no space left on the device of .* for checkpoint 20 .* --resume"):
        train(config)
    monkeypatch.setattr(ocp.CheckpointManager, "save", real)
    train(dataclasses.replace(config, resume=True))
    straight = tiny_config(tiny_data_dir, tmp_path / "straight", steps=30, log_every=10, checkpoint_every=10)
    train(straight)
    _assert_same(_final_params(tmp_path / "run", config), _final_params(tmp_path / "straight", config))


def test_other_checkpoint_failures_are_not_called_a_full_disk(tiny_data_dir, tmp_path, monkeypatch):
    def save(manager, step, *args, **kwargs):
        raise ValueError("some other orbax failure")

    monkeypatch.setattr(ocp.CheckpointManager, "save", save)
    with pytest.raises(ValueError, match="some other orbax failure"):
        train(tiny_config(tiny_data_dir, tmp_path / "run", steps=10))
