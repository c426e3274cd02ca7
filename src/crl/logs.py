"""Run logs: metrics.jsonl and eval.jsonl (one JSON object per line) and TensorBoard scalars."""

from __future__ import annotations

import json
import math
from pathlib import Path

from tensorboardX import SummaryWriter


class RunLog:
    def __init__(self, run_dir: Path, resume_from: int | None = None, wandb_config: dict | None = None):
        """`resume_from`: the checkpoint step a resumed run continues from. Records logged after it by
        the interrupted process are dropped, so each step appears once. `wandb_config`: also log to
        Weights & Biases, recording this config (`crl.wandb_log`)."""
        self.run_dir = run_dir
        if resume_from is not None:
            for name in ("metrics.jsonl", "eval.jsonl"):
                _truncate_after(run_dir / name, resume_from)
        purge = None if resume_from is None else resume_from + 1
        self.tb = SummaryWriter(str(run_dir / "tensorboard"), purge_step=purge)
        self.wandb = None
        if wandb_config is not None:
            from crl import wandb_log

            self.wandb = wandb_log.start(run_dir, wandb_config)

    def _to_wandb(self, step: int, values: dict) -> None:
        if self.wandb is not None:
            self.wandb.log({**values, "step": step})

    def _append(self, name: str, record: dict) -> None:
        with open(self.run_dir / name, "a") as file:
            file.write(json.dumps(record) + "\n")

    def metrics(self, step: int, values: dict[str, float]) -> None:
        self._append("metrics.jsonl", {"step": step, **values})
        for key, value in values.items():
            if math.isfinite(value):
                self.tb.add_scalar(key, value, step)
        self.tb.flush()
        self._to_wandb(step, values)

    def evaluation(self, step: int, result: dict) -> None:
        self._append("eval.jsonl", {"step": step, **result})
        scalars = {"eval/overall_success": result["overall"]}
        scalars |= {f"eval/{task}": value for task, value in result["tasks"].items()}
        shown = ("overall", "episodes_per_task", "tasks")
        scalars |= {f"eval/{key}": value for key, value in result.items() if key not in shown}  # measures
        for key, value in scalars.items():
            self.tb.add_scalar(key, value, step)
        self.tb.flush()
        self._to_wandb(step, scalars)

    def video(self, step: int, path: Path) -> None:
        """An evaluation episode's video (`crl eval --video`), to W&B where the run logs there."""
        if self.wandb is not None:
            from crl import wandb_log

            self._to_wandb(step, {f"video/{path.stem.split('-', 1)[-1]}": wandb_log.video(path)})

    def close(self) -> None:
        self.tb.close()
        if self.wandb is not None:
            self.wandb.finish()


def read_jsonl(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _truncate_after(path: Path, step: int) -> None:
    records = read_jsonl(path)
    kept = [r for r in records if r["step"] <= step]
    if len(kept) < len(records):
        tmp = path.with_suffix(".tmp")
        tmp.write_text("".join(json.dumps(r) + "\n" for r in kept))
        tmp.replace(path)
