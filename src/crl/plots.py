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


def plot_curves(run_dirs: list[Path], metric: str, out: Path) -> Path:
    """One curve of `metric` against the update step for each run directory; writes `out`."""
    import matplotlib

    matplotlib.use("Agg")  # files only; no display needed
    import matplotlib.pyplot as plt

    curves = {}
    for run_dir in run_dirs:
        records = [r for r in read_jsonl(run_dir / "metrics.jsonl") if metric in r]
        if not records:
            raise CrlError(
                f"{run_dir} has no '{metric}' in metrics.jsonl; is it a run of an agent that logs it?"
            )
        curves[run_label(run_dir)] = ([r["step"] for r in records], [r[metric] for r in records])
    fig, ax = plt.subplots(figsize=(6, 4))
    for label, (steps, values) in curves.items():
        ax.plot(steps, values, label=label)
    values = [v for _, vs in curves.values() for v in vs]
    if min(values) > 0 and max(values) > 100 * min(values):
        ax.set_yscale("log")  # curves of very different scales (CE vs L2) stay readable
    ax.set_xlabel("update")
    ax.set_ylabel(metric)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out
