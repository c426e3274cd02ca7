"""`crl reproduce TABLE`: the sweep behind one of the papers' tables, with the paper presets, then
its report; `--dry-run` lists the runs and an estimate of their GPU time."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from crl.experiments import reference
from crl.experiments.sweep import Arm, Run

ASSUMED_GPU_TFLOPS = 60.0
"""Achieved float32 rate assumed by the estimate: issue 6's target (1M paper-config CRL updates of
~36-40 GFLOP in 10 minutes on one H100). Not measured yet; pass --gpu-tflops with a measured one."""


@dataclass(frozen=True)
class PaperTable:
    description: str
    reference: str  # the CSV of published numbers that sets the datasets
    arms: tuple[Arm, ...]
    seeds: int  # as in the paper
    baseline: str


TABLES: dict[str, PaperTable] = {
    "mrcrl-table1": PaperTable(
        "MR-CRL Table 1: CRL (OGBench's hyperparameters) vs MR-CRL on 18 OGBench datasets; the paper "
        "has 8 CRL seeds (from OGBench) and 4 MR-CRL seeds.",
        "mrcrl-table1",
        (Arm("crl", "paper"), Arm("mrcrl", "mrcrl-paper")),
        4,
        "crl",
    ),
    "mrcrl-table3": PaperTable(
        "MR-CRL Table 3: the baseline and five ablations on 10 datasets; one seed each in the paper "
        "(the baseline's 4 seeds are Table 1's MR-CRL runs).",
        "mrcrl-table3",
        tuple(Arm("mrcrl", "mrcrl-paper", v) for v in reference.table3_variants()),
        1,
        "mrcrl",
    ),
}


def flops_per_update(run: Run) -> float:
    """XLA's FLOP count of one update of the run's config at nominal sizes (obs 32, action 8: the input
    widths change the count by well under 1% at 512-wide layers). Counted on the lowered program, from
    parameter shapes alone: nothing is initialised or compiled (within 1.1% of the compiled program's
    count for the paper and mrcrl-paper presets)."""
    import jax

    from crl import bench
    from crl.agents import agent_module
    from crl.data.sampling import to_device
    from crl.experiments.sweep import run_config

    config = run_config(run)
    agent = config.agent.for_run(config.steps)
    data = to_device(bench.synthetic_dataset(20_000, 32, 8), agent.needs_next_observations)
    state = jax.eval_shape(lambda key: agent_module(agent).init(key, agent, 32, 8), jax.random.PRNGKey(0))
    return bench.flops(bench.lowered_update(agent, state, data))


def data_status(dataset: str, directory: Path) -> str:
    from crl.data.generate import can_generate, why_not_generated
    from crl.data.names import dataset_paths

    if all(p.exists() for p in dataset_paths(dataset, directory)):
        return "present"
    if can_generate(dataset):
        return "generated on first use"
    return f"MISSING (crl cannot make it: {why_not_generated(dataset)}; copy the official files)"


def dry_run(runs: list[Run], gpu_tflops: float) -> str:
    """The runs, their data, and GPU hours at `gpu_tflops` (FLOPs per update counted per arm)."""
    from crl.data.names import data_dir
    from crl.experiments.sweep import run_config

    flops: dict[Arm, float] = {}
    lines, total = [], 0.0
    for run in runs:
        config = run_config(run)
        if run.arm not in flops:
            flops[run.arm] = flops_per_update(run)
        hours = flops[run.arm] * config.steps * len(run.seeds) / (gpu_tflops * 1e12) / 3600
        total += hours
        status = data_status(run.dataset, data_dir(config.data_dir))
        lines.append(
            f"  {run.name}: {run.arm.preset} preset, {config.steps:,} updates x {len(run.seeds)} seed(s), "
            f"{flops[run.arm] / 1e9:.0f} GFLOP/update, ~{hours:.2f} GPU h; data {status}; -> {run.run_dir}"
        )
    lines.append(
        f"{len(runs)} runs, ~{total:.1f} GPU hours in all at an assumed {gpu_tflops:g} TFLOP/s achieved "
        "(FLOPs from XLA's cost analysis; the rate is an assumption until measured: --gpu-tflops)"
    )
    return "\n".join(lines)
