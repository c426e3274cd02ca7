"""Reading a run's agent without its replay: the wall time and peak host memory of restoring the latest
checkpoint of an image run whole (agent state and collector, as `--resume` does) against the agent state
alone (as `crl eval`, `crl analyze` and `--init-from` do), each in a fresh process. The run is a short
point-fourrooms-image run with a replay of `--replay` transitions. Writes its section of BENCHMARKS.md.

    python benchmarks/restore.py [--replay 1000000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from importlib.metadata import version
from pathlib import Path

from report import publish

SECTION = "## Reading a run's agent without its replay"

# Run in a child: restore one way, print the seconds and the process's peak resident memory (GiB).
CHILD = """
import json, resource, sys, time
from pathlib import Path
from crl.checkpoint import Checkpoints
from crl.train import checkpoint_template, read_config
run = Path(sys.argv[1])
template = checkpoint_template(read_config(run))
tic = time.perf_counter()
carry = Checkpoints(run / "checkpoints").restore(template, agent_only=sys.argv[2] == "agent")
seconds = time.perf_counter() - tic
print(json.dumps({"s": seconds, "gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}))
"""


def make_run(run: str, replay: int) -> None:
    """A point-fourrooms-image run of 2,048 steps (1,024 of updates, batch 8) with a `replay`-transition
    replay, checkpointed at its end."""
    flags = (
        f"--env point-fourrooms-image --replay-size {replay} --env-steps 2048 --random-steps 1024 "
        "--eval-every 0 --eval-episodes 0 --log-every 1024 --checkpoint-every 2048 --agent.batch-size 8 "
        "--agent.hidden 16 16 --no-progress"
    )
    command = [sys.executable, "-m", "crl.cli", "train", *flags.split(), "--run-dir", run]
    subprocess.run(command, check=True, capture_output=True)


def restore(run: str, how: str) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, run, how], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replay", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run = f"{tmp}/run"
        make_run(run, args.replay)
        stored = sum(p.stat().st_size for p in Path(run).rglob("*") if p.is_file())
        measured: dict[str, list[dict]] = {"whole": [], "agent": []}
        for _ in range(args.repeats):  # alternating
            for how in measured:
                measured[how].append(restore(run, how))
    rows = []
    for how, label in (("whole", "whole checkpoint (`--resume`)"), ("agent", "agent state alone")):
        seconds = statistics.median(m["s"] for m in measured[how])
        gib = statistics.median(m["gib"] for m in measured[how])
        rows.append(f"| {label} | {seconds:.2f} | {gib:.2f} |")
    whole, alone = (statistics.median(m["s"] for m in measured[h]) for h in ("whole", "agent"))
    lines = [
        SECTION,
        "",
        f"Produced by `python benchmarks/restore.py --replay {args.replay} --repeats {args.repeats}` on "
        f"{datetime.date.today()}. Machine: {platform.machine()}, {os.cpu_count()} CPU cores; "
        f"orbax-checkpoint {version('orbax-checkpoint')}, jax {version('jax')}. A point-fourrooms-image run "
        f"with a replay of {args.replay:,} transitions ({args.replay * 64 * 64 * 3 / 2**30:.1f} GiB of "
        f"frames in memory) holding 2,048 of them, so its empty rows compress to {stored / 2**20:.0f} MiB on "
        "disk and a full replay would read slower; each restore in a fresh process, medians of "
        f"{args.repeats}, the two ways alternating.",
        "",
        "| what is read | seconds | peak resident memory of the process (GiB) |",
        "| --- | --- | --- |",
        *rows,
        "",
        f"Reading the agent alone is {whole / alone:.0f}x faster.",
    ]
    publish(lines)


if __name__ == "__main__":
    main()
