"""The `crl` command: train, eval and data subcommands. Config fields are flags through tyro."""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import tyro

from crl.errors import CrlError

USAGE = """usage: crl COMMAND [FLAGS]

commands:
  train       train an agent on an OGBench dataset, then evaluate it (`crl train --help`)
  eval        evaluate the latest checkpoint of a run directory (`crl eval RUN_DIR`)
  data        list, generate and verify datasets (`crl data list|generate|verify`)
  plot        draw a metric of several runs in one figure (`crl plot RUN_DIR... --out FIG.png`)
  presets     list the named hyperparameter presets, their values and sources
  bench       measure update throughput, FLOPs, evaluation speed and memory on this machine

`crl train` with no flags trains CRL on pointmaze-medium-navigate-v0 with the `quick` preset,
generating the dataset locally on first use.
"""

AGENTS = ("crl", "mrcrl", "gcbc")

TRAIN_DESCRIPTION = """Train an agent on an OGBench dataset, then evaluate it.

--agent NAME chooses the agent ({agents}; default crl) and --preset NAME the hyperparameters
({presets}) for --dataset: the defaults below are that preset's values for that agent. Any field
can then be set by its flag, for example --agent.alpha 0.1. With --resume, the defaults come
from the run directory's config.json instead, and flags given override them."""


def _train(args: Sequence[str]) -> int:
    from crl.data.names import check_dataset_name
    from crl.presets import PRESETS, preset_config
    from crl.train import format_table, read_config, train

    pre = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    pre.add_argument("--agent")
    pre.add_argument("--preset", default="quick")
    pre.add_argument("--dataset", default="pointmaze-medium-navigate-v0")
    pre.add_argument("--run-dir", "--run_dir", type=Path)
    pre.add_argument("--resume", action="store_true")
    known, _ = pre.parse_known_args(args)
    if known.agent is not None and known.agent not in AGENTS:
        raise CrlError(f"unknown agent '{known.agent}': choose one of {', '.join(AGENTS)}")
    rest = [a for i, a in enumerate(args) if a != "--agent" and (i == 0 or args[i - 1] != "--agent")]
    rest = [a for a in rest if not a.startswith("--agent=")]
    if known.resume and known.run_dir is not None and (known.run_dir / "config.json").exists():
        base = dataclasses.replace(read_config(known.run_dir), resume=True, run_dir=known.run_dir)
    else:
        base = preset_config(known.preset, check_dataset_name(known.dataset), known.agent)
    description = TRAIN_DESCRIPTION.format(agents=", ".join(AGENTS), presets=", ".join(PRESETS))
    config = tyro.cli(
        type(base), default=base, args=rest, prog="crl train", description=description,
        config=(tyro.conf.AvoidSubcommands,),
    )  # fmt: skip
    check_dataset_name(config.dataset)
    tic = time.perf_counter()
    results = train(config)
    run_dir = config.run_dir or _default_dir(config)
    for seed, result in zip(range(config.seed, config.seed + config.seeds), results or [], strict=False):
        print(f"\n{config.dataset}, {config.preset} preset, {config.steps} updates, seed {seed}")
        print(format_table(result))
    print(f"wall time {time.perf_counter() - tic:.0f} s; run directory {run_dir}")
    return 0


def _default_dir(config) -> Path:
    from crl.train import default_run_dir

    return default_run_dir(config)


def _eval(args: Sequence[str]) -> int:
    from crl.train import evaluate_run, format_table

    def run(
        run_dir: Annotated[Path, tyro.conf.Positional],
        eval_episodes: int | None = None,
        progress: bool = True,
    ) -> None:
        """Evaluate the latest checkpoint of RUN_DIR with the OGBench protocol; appends to eval.jsonl.

        Args:
            run_dir: A run directory written by `crl train`.
            eval_episodes: Episodes per task (default: the run's own setting).
            progress: Show a progress bar.
        """
        for result in evaluate_run(run_dir, eval_episodes, progress):
            print(format_table(result))

    tyro.cli(run, args=args, prog="crl eval")
    return 0


def _data(args: Sequence[str]) -> int:
    from crl.data import commands

    subcommands = {
        "list": commands.list_datasets,
        "generate": commands.generate_dataset,
        "verify": commands.verify,
        "download": commands.download,
    }
    if not args or args[0] not in subcommands:
        print(
            "usage: crl data {list,generate,verify,download} [FLAGS]  (`crl data generate --help` for each)"
        )
        return 0 if args and args[0] in ("-h", "--help") else 2
    tyro.cli(subcommands[args[0]], args=args[1:], prog=f"crl data {args[0]}")
    return 0


def _plot(args: Sequence[str]) -> int:
    from crl.plots import plot_curves

    def run(
        run_dirs: Annotated[tuple[Path, ...], tyro.conf.Positional],
        out: Path = Path("encoder_loss.png"),
        metric: str = "encoder/loss",
    ) -> None:
        """Draw a logged metric against the update step, one curve per run, in one figure.

        Args:
            run_dirs: Run directories written by `crl train`.
            out: Where to write the figure (PNG, PDF or SVG by the suffix).
            metric: A key of metrics.jsonl; the default, MR-CRL's encoder loss, redraws the paper's Fig. 2
                from a cross-entropy run and an l2-loss run.
        """
        missing = [str(d) for d in run_dirs if not (d / "metrics.jsonl").exists()]
        if missing:
            raise CrlError(
                f"no metrics.jsonl in {', '.join(missing)}: pass run directories written by crl train"
            )
        print(f"wrote {plot_curves(list(run_dirs), metric, out)}")

    tyro.cli(run, args=args, prog="crl plot")
    return 0


def _presets(args: Sequence[str]) -> int:
    from crl.config import to_dict
    from crl.data.names import check_dataset_name
    from crl.presets import PRESETS, preset_config

    def run(dataset: str = "pointmaze-medium-navigate-v0", agent: str | None = None) -> None:
        """Print every preset: where its values come from, and the values it gives for --dataset.

        Args:
            dataset: Dataset whose per-dataset choices (alpha, discount, actor goals) are shown.
            agent: Show the presets for this agent (default: each preset's own agent).
        """
        check_dataset_name(dataset)
        for name, preset in PRESETS.items():
            print(f"{name}  (agent {agent or preset.default_agent})\n  source: {preset.source}")
            try:
                values = to_dict(preset_config(name, dataset, agent))
            except CrlError as exc:
                print(f"  not available: {exc}\n")
                continue
            schedule = {k: values[k] for k in ("steps", "eval_every", "eval_episodes", "checkpoint_every")}
            print("  " + ", ".join(f"{k}={v}" for k, v in schedule.items()))
            print("  agent: " + ", ".join(f"{k}={v}" for k, v in values["agent"].items()) + "\n")

    tyro.cli(run, args=args, prog="crl presets")
    return 0


def bench_report(paper: bool, seeds: int, length: int) -> str:
    """The quick (or paper-config) benchmark suite as a Markdown table."""
    from crl import bench
    from crl.data.sampling import to_device
    from crl.presets import preset_config

    dataset = "pointmaze-medium-navigate-v0"
    regular = bench.synthetic_dataset(1_000_000, obs_dim=2, action_dim=2)
    transfer = bench.transfer_time(regular)
    data = to_device(regular)
    peak_matmul = bench.matmul_flops_per_s()
    rows = ["| measurement | value |", "| --- | --- |"]
    rows.append(f"| float32 matmul rate (2048^3) | {peak_matmul / 1e9:,.1f} GFLOP/s |")
    rows.append(f"| dataset to device (1M x 2 obs) | {transfer * 1e3:.0f} ms |")
    for agent in ("crl", "mrcrl"):
        preset = ("mrcrl-paper" if agent == "mrcrl" else "paper") if paper else "quick"
        config = preset_config(preset, dataset, agent).agent.for_run(1_000_000)
        for n in sorted({1, seeds}):
            t = bench.update_throughput(config, data, n, 2, 2, length)
            share = t.flops_per_s / peak_matmul
            rows.append(
                f"| {agent} {preset}, {n} seed(s) | {t.updates_per_s:,.1f} updates/s per seed, "
                f"{t.flops_per_update / 1e9:.2f} GFLOP/update, {t.flops_per_s / 1e9:,.1f} GFLOP/s "
                f"({share:.0%} of the matmul rate) |"
            )
    config = preset_config("quick", dataset, "crl").agent
    ev = bench.evaluation_speed("pointmaze-medium-v0", config, 2, 2, episodes=50)
    rows.append(
        f"| evaluation, pointmaze-medium (5 tasks x 50 episodes) | {ev['run_s']:.1f} s "
        f"({ev['episodes_per_s']:.1f} episodes/s; building {ev['episodes']} env copies "
        f"{ev['build_s']:.1f} s) |"
    )
    rows.append(f"| peak host memory | {bench.peak_host_memory_gib():.2f} GiB |")
    device_memory = bench.device_memory_gib()
    if device_memory is not None:
        rows.append(f"| peak device memory | {device_memory:.2f} GiB |")
    return "\n".join(rows)


def _bench(args: Sequence[str]) -> int:
    def run(paper: bool = False, seeds: int = 4, length: int = 100) -> None:
        """Measure update throughput (1 and N seeds), FLOPs per update, evaluation speed and memory here.

        Args:
            paper: Use the paper-size configs (meant for a GPU) instead of the quick ones.
            seeds: N, the number of seeds trained side by side in the multi-seed measurement.
            length: Updates per timed chunk.
        """
        print(bench_report(paper, seeds, length))

    tyro.cli(run, args=args, prog="crl bench")
    return 0


COMMANDS = {
    "train": _train,
    "eval": _eval,
    "data": _data,
    "plot": _plot,
    "presets": _presets,
    "bench": _bench,
}


def _quiet_third_party_warnings() -> None:
    """Warnings that say nothing to a crl user: no display for GLFW, gymnasium's float32 bounds."""
    warnings.filterwarnings("ignore", message=".*DISPLAY environment variable.*")
    warnings.filterwarnings("ignore", message=".*precision lowered by casting.*")


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    _quiet_third_party_warnings()
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        return 0
    if argv[0] not in COMMANDS:
        print(
            f"crl: error: unknown command '{argv[0]}'; choose one of {', '.join(COMMANDS)}", file=sys.stderr
        )
        return 2
    try:
        return COMMANDS[argv[0]](argv[1:])
    except CrlError as exc:
        print(f"crl: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            "\ncrl: interrupted; a training run continues from its last checkpoint with --resume",
            file=sys.stderr,
        )
        return 130


if __name__ == "__main__":
    sys.exit(main())
