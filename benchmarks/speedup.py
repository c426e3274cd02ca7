"""Update speed of this checkout against an earlier commit, measured in one run: each configuration is
timed in fresh processes that alternate between the two versions' code, round after round, on the same
synthetic data (an update's cost does not depend on the values), and the medians are compared. Each
process also fingerprints the parameters after its first chunk, so the table says whether the two versions
train bit-identically. Writes its section of BENCHMARKS.md.

    python benchmarks/speedup.py [--before REV] [--rounds 5] [--configs crl:quick mrcrl:quick ...]

REV defaults to the commit before the last one that touched src/. MR-CRL has no OGBench counterpart:
its cost is reported against crl's CRL at the same preset, beside the ratio of their FLOPs.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tarfile
import tempfile
from io import BytesIO
from pathlib import Path

from report import BENCHMARKS, write_section

SECTION = "## Update speed against an earlier commit"
ROOT = Path(__file__).resolve().parent.parent
DATASET = "pointmaze-medium-navigate-v0"  # its shapes: 2-d observations and actions, 1M rows
# updates per timed chunk, timed chunks per process
LENGTHS = {"quick": (500, 3), "paper": (10, 3), "mrcrl-paper": (4, 3)}


def child(agent: str, preset: str, length: int, chunks: int) -> dict:
    """Time `chunks` chunks of `length` updates after a compiling one, in this process's crl."""
    import time

    import jax
    import numpy as np

    from crl.bench import synthetic_dataset, update_flops
    from crl.data.sampling import to_device
    from crl.presets import preset_config
    from crl.train import initial_states, run_chunk, unstack

    run = preset_config(preset, DATASET, agent)
    config = run.agent.for_run(run.steps)
    data = to_device(synthetic_dataset(1_000_000, 2, 2), config.needs_next_observations)
    states = initial_states(config, [0], 2, 2)
    states, metrics = run_chunk(states, data, config, length)
    jax.block_until_ready(metrics)
    digest = hashlib.sha256()
    for leaf in jax.tree.leaves(jax.device_get(states.params)):
        digest.update(np.ascontiguousarray(leaf).tobytes())
    times = []
    for _ in range(chunks):
        tic = time.perf_counter()
        states, metrics = run_chunk(states, data, config, length)
        jax.block_until_ready(metrics)
        times.append(time.perf_counter() - tic)
    flops = update_flops(config, unstack(states, 0), data)
    rate = length / statistics.median(times)
    return {"updates_per_s": rate, "params": digest.hexdigest()[:16], "flops": flops}


def checkout(rev: str, where: Path) -> Path:
    """The src/ tree of commit `rev`, unpacked under `where`."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "src"], capture_output=True, check=True)
    with tarfile.open(fileobj=BytesIO(archive.stdout)) as tar:
        tar.extractall(where, filter="data")
    return where / "src"


def run_child(src: Path, agent: str, preset: str) -> dict:
    length, chunks = LENGTHS[preset]
    env = {**os.environ, "PYTHONPATH": str(src)}
    out = subprocess.run(
        [sys.executable, __file__, "--child", agent, preset, str(length), str(chunks)],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def default_before() -> str:
    """The parent of the newest commit that changed src/."""
    last = subprocess.run(["git", "-C", str(ROOT), "log", "-1", "--format=%H", "--", "src"],
                          capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    return f"{last}~1"


def describe(rev: str) -> str:
    return subprocess.run(["git", "-C", str(ROOT), "log", "-1", "--format=%h (%s)", rev],
                          capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default=None, help="the commit to compare with (default: see above)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--configs", nargs="+", default=["crl:quick", "mrcrl:quick"])
    parser.add_argument("--out", type=Path, default=BENCHMARKS)
    args = parser.parse_args()
    before = args.before or default_before()
    configs = [tuple(c.split(":")) for c in args.configs]
    results: dict = {(c, side): [] for c in configs for side in ("before", "now")}
    with tempfile.TemporaryDirectory() as tmp:
        sources = {"before": checkout(before, Path(tmp)), "now": ROOT / "src"}
        for round_ in range(args.rounds):
            for config in configs:
                for side in ("before", "now") if round_ % 2 == 0 else ("now", "before"):
                    result = run_child(sources[side], *config)
                    results[(config, side)].append(result)
                    print(round_, ":".join(config), side, f"{result['updates_per_s']:.1f}", flush=True)
    lines = [
        SECTION,
        "",
        f"Produced by `python benchmarks/speedup.py --before {before} --rounds {args.rounds} --configs "
        f"{' '.join(args.configs)}` on {datetime.date.today()}. Machine: {platform.machine()}, "
        f"{os.cpu_count()} CPU cores, no GPU; python {platform.python_version()}. "
        f"Before: {describe(before)}; now: {describe('HEAD')} and the working tree. Updates/s of one "
        f"seed, the median over {args.rounds} processes per version (each the median of its timed chunks "
        "after a compiling one), processes of the "
        "two versions alternating; synthetic pointmaze-sized data. 'Same parameters' compares the "
        "parameters after each process's first chunk.",
        "",
        "| config | updates/chunk | before (updates/s) | now (updates/s) | now / before | same parameters |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    median = {k: statistics.median(r["updates_per_s"] for r in v) for k, v in results.items()}
    for config in configs:
        old, new = median[(config, "before")], median[(config, "now")]
        same = {r["params"] for r in results[(config, "before")] + results[(config, "now")]}
        cells = [" ".join(config), LENGTHS[config[1]][0], f"{old:.1f}", f"{new:.1f}", f"{new / old:.2f}",
                 "yes" if len(same) == 1 else "no"]  # fmt: skip
        lines.append("| " + " | ".join(map(str, cells)) + " |")
    for agent, preset in configs:
        crl = ("crl", "paper" if preset.endswith("paper") else preset)  # mrcrl-paper's CRL is paper
        if agent != "crl" and crl in configs:
            cost = median[(crl, "now")] / median[((agent, preset), "now")]
            flops = results[((agent, preset), "now")][0]["flops"] / results[(crl, "now")][0]["flops"]
            lines += ["", f"{agent} {preset} against crl {crl[1]}, now: {cost:.2f}x the time per update for "
                      f"{flops:.2f}x the FLOPs (XLA's count)."]  # fmt: skip
    write_section(args.out, SECTION, "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        agent, preset, length, chunks = sys.argv[2:6]
        print(json.dumps(child(agent, preset, int(length), int(chunks))))
    else:
        main()
