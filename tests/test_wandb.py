"""`--wandb`: what crl sends to Weights & Biases (metrics, evaluations, videos, at crl's steps), and a real
offline W&B run that a resumed seed directory continues."""

from __future__ import annotations

import dataclasses

import pytest

from crl import wandb_log
from crl.logs import RunLog, read_jsonl
from crl.presets import preset_config
from crl.train import evaluate_run, train


class Recorder:
    """Stands in for a W&B run: keeps what crl logs."""

    def __init__(self):
        self.logged, self.finished = [], False

    def log(self, values):
        self.logged.append(values)

    def finish(self):
        self.finished = True


def test_a_run_sends_its_metrics_evaluations_and_videos(monkeypatch, tmp_path):
    runs: dict[str, Recorder] = {}
    monkeypatch.setattr(
        wandb_log, "start", lambda run_dir, config: runs.setdefault(config["run_dir"], Recorder())
    )
    monkeypatch.setattr(wandb_log, "video", lambda path: f"video of {path.name}")
    config = preset_config("quick", None, "crl", env="point-fourrooms")
    small = dataclasses.replace(config.agent, batch_size=32, hidden=(32, 32), latent_dim=16)
    config = dataclasses.replace(config, agent=small, steps=224, random_steps=224, log_every=112,
                                 checkpoint_every=224, eval_every=112, eval_episodes=2, progress=False,
                                 run_dir=tmp_path / "run", wandb=True)  # fmt: skip
    train(config)
    (run,) = runs.values()
    assert run.finished
    metrics = read_jsonl(tmp_path / "run" / "metrics.jsonl")
    sent = [v for v in run.logged if "eval/overall_success" not in v]
    assert [v["step"] for v in sent] == [m["step"] for m in metrics] == [112, 224]
    assert sent[-1]["online/episodes"] == metrics[-1]["online/episodes"]
    evaluations = [v for v in run.logged if "eval/overall_success" in v]
    assert [(v["step"], v["eval/overall_success"]) for v in evaluations] == [
        (r["step"], r["overall"]) for r in read_jsonl(tmp_path / "run" / "eval.jsonl")
    ]
    _, videos = evaluate_run(tmp_path / "run", progress=False, video=True)
    assert run.logged[-1] == {"video/point-fourrooms": f"video of {videos[0].name}", "step": 224}


def test_offline_runs_are_written_under_the_seed_directory_and_resumed(monkeypatch, tmp_path):
    pytest.importorskip("wandb", reason="--wandb needs `pip install -e '.[wandb]'`")
    monkeypatch.setenv("WANDB_MODE", "offline")
    log = RunLog(tmp_path, wandb_config={"seed": 0})
    log.metrics(10, {"critic/loss": 1.5})
    log.close()
    run_id = (tmp_path / "wandb-id").read_text()
    again = RunLog(tmp_path, resume_from=10, wandb_config={"seed": 0})
    again.metrics(20, {"critic/loss": 1.0})
    again.close()
    offline = sorted((tmp_path / "wandb").glob("offline-run-*"))  # one per process: `wandb sync` joins them
    assert len(offline) == 2 and (tmp_path / "wandb-id").read_text() == run_id
    assert all((d / f"run-{run_id}.wandb").stat().st_size > 0 for d in offline)  # both the same W&B run
