"""Time the README's main job, `crl train` with no flags, from an empty data directory.

Runs `crl data generate` and then `crl train` (quick preset) as a new user would, in a temporary
data and run directory, and writes the timings and the success table to BENCHMARKS.md.

    python benchmarks/default_run.py [--out BENCHMARKS.md]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from report import BENCHMARKS, write_section

DATASET = "pointmaze-medium-navigate-v0"
SECTION = "## Default `crl train` (quick preset) on a fresh data directory"


def timed(cmd: list[str], env: dict) -> float:
    tic = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - tic


def jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=BENCHMARKS)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "CRL_DATA_DIR": f"{tmp}/data"}
        generate_s = timed(["crl", "data", "generate", DATASET], env)
        run = Path(tmp) / "run"
        train_s = timed(["crl", "train", "--run-dir", str(run), "--no-progress"], env)
        metrics, evals = jsonl(run / "metrics.jsonl"), jsonl(run / "eval.jsonl")
        record = json.loads((run / "config.json").read_text())
    rates = [m["updates_per_s"] for m in metrics[1:]]  # the first chunk includes compilation
    config, agent = record["config"], record["config"]["agent"]
    versions = ", ".join(f"{k} {v}" for k, v in record["versions"].items())
    tasks = list(evals[-1]["tasks"])
    lines = [
        SECTION,
        "",
        f"Produced by `python benchmarks/default_run.py` on {datetime.date.today()}.",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores, no GPU. {versions}.",
        f"Config: {DATASET}, preset {config['preset']}, {config['steps']} updates, "
        f"batch {agent['batch_size']}, "
        f"hidden {agent['hidden']}, latent {agent['latent_dim']}, seed {config['seed']}, "
        f"{config['eval_episodes']} evaluation episodes per task.",
        "",
        "| phase | wall time |",
        "| --- | --- |",
        f"| `crl data generate` (1.1M oracle steps) | {generate_s:.0f} s |",
        f"| `crl train` (compile, train, evaluations) | {train_s:.0f} s |",
        f"| total | {generate_s + train_s:.0f} s ({(generate_s + train_s) / 60:.1f} min) |",
        "",
        f"Training rate: median {statistics.median(rates):.0f} updates/s over {len(rates)} chunks "
        "(the first chunk, which includes compilation, left out).",
        "",
        "| step | " + " | ".join(tasks) + " | overall |",
        "| --- |" + " --- |" * (len(tasks) + 1),
    ]
    for e in evals:
        cells = " | ".join(f"{e['tasks'][t]:.0%}" for t in tasks)
        lines.append(f"| {e['step']} | {cells} | {e['overall']:.1%} |")
    write_section(args.out, SECTION, "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
