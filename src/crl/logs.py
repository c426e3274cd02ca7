"""Run logs: metrics.jsonl and eval.jsonl (one JSON object per line) and TensorBoard scalars."""

from __future__ import annotations

import json
import math
from pathlib import Path

from tensorboardX import SummaryWriter


class RunLog:
    def __init__(self, run_dir: Path, resume_from: int | None = None):
        """`resume_from`: the checkpoint step a resumed run continues from. Records logged after it by
        the interrupted process are dropped, so each step appears once."""
        self.run_dir = run_dir
        if resume_from is not None:
            for name in ("metrics.jsonl", "eval.jsonl"):
                _truncate_after(run_dir / name, resume_from)
        purge = None if resume_from is None else resume_from + 1
        self.tb = SummaryWriter(str(run_dir / "tensorboard"), purge_step=purge)

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


def _truncate_after(path: Path, step: int) -> None:
    records = read_jsonl(path)
    kept = [r for r in records if r["step"] <= step]
    if len(kept) < len(records):
        tmp = path.with_suffix(".tmp")
        tmp.write_text("".join(json.dumps(r) + "\n" for r in kept))
        tmp.replace(path)
