"""Run logs: metrics.jsonl and eval.jsonl (one JSON object per line) and TensorBoard scalars."""

from __future__ import annotations

import json
import math
from pathlib import Path

from tensorboardX import SummaryWriter


class RunLog:
    def __init__(self, run_dir: Path):
        self.run_dir = run_dir
        self.tb = SummaryWriter(str(run_dir / "tensorboard"))

    def _append(self, name: str, record: dict) -> None:
        with open(self.run_dir / name, "a") as file:
            file.write(json.dumps(record) + "\n")

    def metrics(self, step: int, values: dict[str, float]) -> None:
        self._append("metrics.jsonl", {"step": step, **values})
        for key, value in values.items():
            if math.isfinite(value):
                self.tb.add_scalar(key, value, step)
        self.tb.flush()

    def evaluation(self, step: int, result: dict) -> None:
        self._append("eval.jsonl", {"step": step, **result})
        self.tb.add_scalar("eval/overall_success", result["overall"], step)
        for task, value in result["tasks"].items():
            self.tb.add_scalar(f"eval/{task}", value, step)
        self.tb.flush()

    def close(self) -> None:
        self.tb.close()


def read_jsonl(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
