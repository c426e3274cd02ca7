"""Dataset generation speed: transitions/s per environment family with 1, 2 (and more) workers, and
the wall time of full-size generations. Writes its section of BENCHMARKS.md.

    python benchmarks/generation.py [--workers 1 2] [--full cube-single-play-v0 scene-play-v0 ...]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

from report import BENCHMARKS, write_section

from crl.data.generate import RECIPES, generate

SECTION = "## Dataset generation"
FAMILIES = {
    "pointmaze": ("pointmaze-medium-navigate-v0", 20),
    "cube": ("cube-single-play-v0", 8),
    "scene": ("scene-play-v0", 8),
    "puzzle": ("puzzle-3x3-play-v0", 8),
}
FULL = ("cube-single-play-v0", "scene-play-v0", "puzzle-3x3-play-v0")


def timed_generation(
    name: str, episodes: int | None, workers: int, chunk: int | None = None
) -> tuple[float, int]:
    """Seconds and transitions of one generation into a temporary directory."""
    with tempfile.TemporaryDirectory() as tmp:
        tic = time.perf_counter()
        generate(name, Path(tmp), episodes=episodes, workers=workers, progress=False, chunk_episodes=chunk)
        seconds = time.perf_counter() - tic
    episodes = RECIPES[name].episodes if episodes is None else episodes
    return seconds, (episodes + max(1, episodes // 10)) * RECIPES[name].episode_steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--full", nargs="*", default=list(FULL), help="datasets to generate at full size")
    parser.add_argument("--full-workers", type=int, default=os.cpu_count())
    parser.add_argument("--out", type=Path, default=BENCHMARKS)
    args = parser.parse_args()

    lines = [
        SECTION,
        "",
        f"Produced by `python benchmarks/generation.py` on {datetime.date.today()}. "
        f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores. "
        f"ogbench {version('ogbench')}, mujoco {version('mujoco')}. Each rate is one "
        "generation of a small dataset in one-episode chunks (validation split included; spawned workers' "
        "start-up counted).",
        "",
        "| family (dataset, episodes) | " + " | ".join(f"{w} worker(s)" for w in args.workers) + " |",
        "| --- |" + " --- |" * len(args.workers),
    ]
    for family, (name, episodes) in FAMILIES.items():
        rates = []
        for workers in args.workers:
            seconds, steps = timed_generation(name, episodes, workers, chunk=1)
            rates.append(f"{steps / seconds:,.0f} transitions/s")
            print(family, workers, rates[-1], flush=True)
        lines.append(f"| {family} ({name}, {episodes}) | " + " | ".join(rates) + " |")
    if args.full:
        lines += ["", f"Full-size generations with {args.full_workers} workers:", ""]
        lines += ["| dataset | episodes | transitions | wall time |", "| --- | --- | --- | --- |"]
        for name in args.full:
            seconds, steps = timed_generation(name, None, args.full_workers)
            lines.append(f"| {name} | {RECIPES[name].episodes} | {steps:,} | {seconds / 60:.1f} min |")
            print(lines[-1], flush=True)
    write_section(args.out, SECTION, "\n".join(lines))


if __name__ == "__main__":
    main()
