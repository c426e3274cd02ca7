"""`crl reproduce TABLE`: the sweep behind one of the papers' tables (or ablation figures), with the paper
presets, then its report; `--dry-run` lists the runs and an estimate of their GPU time."""

from __future__ import annotations

import dataclasses
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
    reference: str | None  # the CSV of published numbers that sets the datasets
    arms: tuple[Arm, ...]
    seeds: int  # as in the paper
    baseline: str
    tasks: tuple[str, ...] = ()  # a figure's online environments, where no reference CSV sets them

    def datasets(self) -> list[str]:
        return reference.table_datasets(self.reference) if self.reference else list(self.tasks)


# The CRL paper's online state tasks (Table 2) for its ablation figures, whose text does not say which
# tasks the figures show.
ONLINE_TASKS = ("fetch-reach", "fetch-push", "sawyer-push", "sawyer-bin", "ant-umaze", "point-spiral11x11")


def _actor_goals(name: str, trajectory: float, random: float) -> Arm:
    flags = ("--agent.actor-p-curgoal", "0", "--agent.actor-p-trajgoal", str(trajectory),
             "--agent.actor-p-randomgoal", str(random))  # fmt: skip
    return Arm("crl", "crl-paper-online", flags=flags, name=name)


def _filter(epsilon: float | None) -> Arm:
    if epsilon is None:
        return Arm("crl", "crl-paper-online", name="no-filter")
    return Arm(
        "crl", "crl-paper-online", flags=("--agent.relabel-filter", str(epsilon)), name=f"eps-{epsilon:g}"
    )


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
    "crl-fig9": PaperTable(
        "CRL paper Fig. 9: sawyer push with goals of the state's first 1 ... 7 coordinates (crl-paper-online "
        "preset, NCE); `crl analyze goaldim` plots the final distance to the goal by goal size. The "
        "paper's model-based baseline is not in crl. 5 seeds.",
        None,
        (Arm("crl", "crl-paper-online"),),
        5,
        "crl",
        tuple(f"sawyer-push-goal{k}" for k in range(1, 8)),
    ),
    "crl-fig10": PaperTable(
        "CRL paper Fig. 10: goals for the actor loss, future states, random states or a 50/50 mixture "
        "(crl-paper-online preset, NCE critic); 5 seeds as the paper's error bars.",
        None,
        (
            _actor_goals("random", 0.0, 1.0),
            _actor_goals("future", 1.0, 0.0),
            _actor_goals("mixture", 0.5, 0.5),
        ),
        5,
        "random",
        ONLINE_TASKS,
    ),
    "crl-fig13": PaperTable(
        "CRL paper Fig. 13: filtered relabelling, training the critic only on relabelled rows with "
        "|log pi(a|s,g) - log pi(a|s,e')| <= epsilon, against no filter (crl-paper-online preset, NCE); "
        "the epsilons are crl's choice (the text gives none), 5 seeds.",
        None,
        (_filter(None), _filter(0.1), _filter(1.0), _filter(10.0)),
        5,
        "no-filter",
        ONLINE_TASKS,
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
    if getattr(agent, "relabel_filter", None) is not None:  # needs a replay's commanded goals: count without
        agent = dataclasses.replace(agent, relabel_filter=None)  # (one more actor pass, a few % of the FLOPs)
    data = to_device(bench.synthetic_dataset(20_000, 32, 8), agent.needs_next_observations)
    state = jax.eval_shape(lambda key: agent_module(agent).init(key, agent, 32, 8), jax.random.PRNGKey(0))
    return bench.flops(bench.lowered_update(agent, state, data))


def data_status(dataset: str, directory: Path) -> str:
    from crl.data.experts import experts_needed, missing_experts
    from crl.data.generate import can_generate, why_not_generated
    from crl.data.names import dataset_paths
    from crl.experiments.sweep import is_online

    if is_online(dataset):
        return "none needed (online)"

    if all(p.exists() for p in dataset_paths(dataset, directory)):
        return "present"
    experts = experts_needed(dataset)
    if missing := missing_experts(dataset, directory):
        how = "; ".join(map(str, missing.values()))
        return f"generatable once the {' and '.join(missing)} expert is trained ({how})"
    if can_generate(dataset):
        return "generated on first use" + (f" (with the {' and '.join(experts)} expert)" if experts else "")
    return f"MISSING (crl cannot make it: {why_not_generated(dataset)}; copy the official files)"


def dry_run(runs: list[Run], gpu_tflops: float) -> str:
    """The runs, their data, and GPU hours at `gpu_tflops` (FLOPs per update counted per arm)."""
    from crl.data.names import data_dir
    from crl.experiments.sweep import is_online, run_config

    flops: dict[Arm, float] = {}
    lines, total = [], 0.0
    online = any(is_online(run.dataset) for run in runs)
    for run in runs:
        config = run_config(run)
        if run.arm not in flops:
            flops[run.arm] = flops_per_update(run)
        updates = round(config.steps * config.update_ratio) if config.online else config.steps
        hours = flops[run.arm] * updates * len(run.seeds) / (gpu_tflops * 1e12) / 3600
        total += hours
        status = data_status(run.dataset, data_dir(config.data_dir))
        lines.append(
            f"  {run.name}: {run.arm.preset} preset, {updates:,} updates x {len(run.seeds)} seed(s), "
            f"{flops[run.arm] / 1e9:.0f} GFLOP/update, ~{hours:.2f} GPU h; data {status}; -> {run.run_dir}"
        )
    lines.append(
        f"{len(runs)} runs, ~{total:.1f} GPU hours in all at an assumed {gpu_tflops:g} TFLOP/s achieved "
        "(FLOPs from XLA's cost analysis; the rate is an assumption until measured: --gpu-tflops)"
        + ("; online runs also wait on their environments, which this leaves out" if online else "")
    )
    return "\n".join(lines)
