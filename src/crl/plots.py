"""Figures from run directories: metric curves of several runs in one plot (e.g. MR-CRL's Fig. 2)."""

from __future__ import annotations

import json
from pathlib import Path

from crl.errors import CrlError
from crl.logs import read_jsonl


def run_label(run_dir: Path) -> str:
    """The run's name, with the MR-CRL variant when there is one."""
    path = run_dir / "config.json"
    config = json.loads(path.read_text())["config"] if path.exists() else {}
    variant = config.get("agent", {}).get("variant")
    return f"{run_dir.name} ({variant})" if variant else run_dir.name


EVAL_SUCCESS = "eval/success"  # the evaluations' overall success rate (eval.jsonl), not a training metric


def _records(run_dir: Path, metric: str) -> list[tuple[int, float]]:
    if metric == EVAL_SUCCESS:
        return [(r["step"], r["overall"]) for r in read_jsonl(run_dir / "eval.jsonl")]
    return [(r["step"], r[metric]) for r in read_jsonl(run_dir / "metrics.jsonl") if metric in r]


def _is_online(run_dir: Path) -> bool:
    path = run_dir / "config.json"
    return path.exists() and json.loads(path.read_text())["config"].get("env") is not None


def plot_curves(run_dirs: list[Path], metric: str, out: Path) -> Path:
    """One curve of `metric` (or EVAL_SUCCESS) against the step for each run directory; writes `out`."""
    import matplotlib

    matplotlib.use("Agg")  # files only; no display needed
    import matplotlib.pyplot as plt

    curves = {}
    for run_dir in run_dirs:
        records = _records(run_dir, metric)
        if not records:
            source = "eval.jsonl" if metric == EVAL_SUCCESS else "metrics.jsonl"
            raise CrlError(f"{run_dir} has no '{metric}' in {source}; is it a run that logs it?")
        curves[run_label(run_dir)] = tuple(zip(*records, strict=True))
    fig, ax = plt.subplots(figsize=(6, 4))
    for label, (steps, values) in curves.items():
        ax.plot(steps, values, label=label)
    values = [v for _, vs in curves.values() for v in vs]
    if min(values) > 0 and max(values) > 100 * min(values):
        ax.set_yscale("log")  # curves of very different scales (CE vs L2) stay readable
    ax.set_xlabel("environment step" if all(map(_is_online, run_dirs)) else "update")
    ax.set_ylabel(metric)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out
