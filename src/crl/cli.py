"""The `crl` command: train, eval and data subcommands. Config fields are flags through tyro."""

from __future__ import annotations

import argparse
import errno
import os
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
  train       train an agent on an OGBench dataset or online (--env), then evaluate it (`crl train --help`)
  eval        evaluate the latest checkpoint of a run directory (`crl eval RUN_DIR`)
  data        list, generate and verify datasets (`crl data list|generate|verify`)
  envs        list the online environments (`crl envs list`)
  plot        draw a metric of several runs in one figure (`crl plot RUN_DIR... --out FIG.png`)
  presets     list the named hyperparameter presets, their values and sources
  bench       measure update throughput, FLOPs, evaluation speed and memory on this machine
  sweep       train a grid of datasets x agents x variants x seeds, locally or on Ray (`crl sweep --help`)
  report      tables (mean ± std, Welch's test, IQM, published numbers) and curves of a sweep
  reproduce   run and report one of the papers' tables (`crl reproduce mrcrl-table1 --dry-run`)
  analyze     what a run learnt: `crl analyze probe|tsne|gradsim|robustness|transfer|goaldim RUN_DIR...`
  expert      train OGBench's locomotion experts: `crl expert train ant|humanoid|antball`

`crl train` with no flags trains CRL on pointmaze-medium-navigate-v0 with the `quick` preset,
generating the dataset locally on first use.
"""


def _train(args: Sequence[str]) -> int:
    from crl.train import format_table, train
    from crl.train_args import parse_train_args

    config = parse_train_args(args)
    tic = time.perf_counter()
    results = train(config)
    run_dir = config.run_dir or _default_dir(config)
    for seed, result in zip(range(config.seed, config.seed + config.seeds), results or [], strict=False):
        source, unit = (config.env, "environment steps") if config.online else (config.dataset, "updates")
        print(f"\n{source}, {config.preset} preset, {config.steps} {unit}, seed {seed}")
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
        video: bool = False,
    ) -> None:
        """Evaluate RUN_DIR's latest checkpoint (OGBench tasks, or an online run's goals); adds to eval.jsonl.

        Args:
            run_dir: A run directory written by `crl train`.
            eval_episodes: Episodes per task (default: the run's own setting).
            progress: Show a progress bar.
            video: Also write each seed's first evaluation episode of every task as a video, the goal
                beside the scene (MP4 with `pip install -e '.[video]'`, else GIF), under SEED_DIR/videos.
        """
        results, videos = evaluate_run(run_dir, eval_episodes, progress, video)
        for result in results:
            print(format_table(result))
        for path in videos:
            print(f"video: {path}")

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


def _envs(args: Sequence[str]) -> int:
    if list(args) != ["list"]:
        print("usage: crl envs list  (the online environments that `crl train --env NAME` takes)")
        return 0 if args and args[0] in ("-h", "--help") else 2
    from crl.data.images import is_image
    from crl.envs import make_env, names, on_host
    from crl.envs.locomotion import LocomotionTask

    print(
        f"{'environment':<24} {'steps':>5} {'state':>7} {'goal':>7} {'radius':>6}  source  (radius: success)"
    )
    for name in names():
        env = make_env(name)
        if isinstance(env, LocomotionTask):  # rewarded, not goal-conditioned: `crl expert train`
            state = "x".join(map(str, env.obs_shape))
            length = env.episode_length
            print(f"{name:<24} {length:>5} {state:>7} {'-':>7} {'-':>6}  {env.source} (host; reward)")
            continue
        state, goal = ("x".join(map(str, shape)) for shape in (env.obs_shape, env.goal_shape))
        if on_host(env):
            source = f"{env.source} (host; pip extra [robots])"
        else:
            rows, cols = env.walls.shape
            view = "images" if is_image(env.obs_shape) else "positions"
            source = f"JAX point maze, {rows}x{cols} grid, {len(env.free_cells)} free cells, {view}"
        print(f"{name:<24} {env.episode_length:>5} {state:>7} {goal:>7} {env.success_radius:>6g}  {source}")
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
            metric: A key of metrics.jsonl, or eval/success for the evaluations' success rate (eval.jsonl);
                the default, MR-CRL's encoder loss, redraws the paper's Fig. 2 from a cross-entropy run and
                an l2-loss run.
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
    from crl.envs import make_env
    from crl.presets import PRESETS, preset_config

    def run(
        dataset: str = "pointmaze-medium-navigate-v0", agent: str | None = None, env: str | None = None
    ) -> None:
        """Print every preset: where its values come from, and the values it gives for --dataset (or --env).

        Args:
            dataset: Dataset whose per-dataset choices (alpha, discount, actor goals) are shown.
            agent: Show the presets for this agent (default: each preset's own agent).
            env: Show the presets' online values for this environment instead (`crl envs list`).
        """
        if env is None:
            check_dataset_name(dataset)
        else:
            make_env(env)
        keys = ("steps", "eval_every", "eval_episodes", "checkpoint_every")
        if env is not None:
            keys += ("num_envs", "collect", "update_ratio", "random_steps", "replay_size")
        for name, preset in PRESETS.items():
            print(f"{name}  (agent {agent or preset.default_agent})\n  source: {preset.source}")
            try:
                values = to_dict(preset_config(name, dataset, agent, env=env))
            except CrlError as exc:
                print(f"  not available: {exc}\n")
                continue
            schedule = {k: values[k] for k in keys}
            print("  " + ", ".join(f"{k}={v}" for k, v in schedule.items()))
            print("  agent: " + ", ".join(f"{k}={v}" for k, v in values["agent"].items()) + "\n")

    tyro.cli(run, args=args, prog="crl presets")
    return 0


def _bench(args: Sequence[str]) -> int:
    def run(paper: bool = False, seeds: int = 4, length: int = 100) -> None:
        """Measure update throughput (1 and N seeds), FLOPs per update, where an update's time goes,
        dataset load and transfer, evaluation speed and memory here.

        Args:
            paper: Use the paper-size configs (meant for a GPU) instead of the quick ones.
            seeds: N, the number of seeds trained side by side in the multi-seed measurement.
            length: Updates per timed chunk.
        """
        from crl.bench import suite

        print(suite(paper, seeds, length))

    tyro.cli(run, args=args, prog="crl bench")
    return 0


SWEEP_EPILOG = """Any other flag is a `crl train` flag and applies to every run, e.g. --steps 100000,
--eval-episodes 20, --data-dir DIR, --agent.lr 1e-4. Each seed's results go to
OUT/DATASET/LABEL/seedsA-B/seedS (OUT/DATASET/LABEL/seedS with --separate-seeds). Re-running the
same command skips finished runs and resumes interrupted ones; OUT/sweep.json records every run's
flags."""


def _execution_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--backend",
        choices=("local", "ray"),
        default="local",
        help="local: processes on this machine; ray: each run a Ray task (default local)",
    )
    parser.add_argument("--address", help="ray: join this cluster (e.g. 10.0.0.1:6379); default: a local one")
    parser.add_argument("--parallel", type=int, default=1, help="local: runs at once (default 1)")
    parser.add_argument(
        "--separate-seeds",
        action="store_true",
        help="one run per seed, instead of each dataset and arm's seeds in one program",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _launch(args: argparse.Namespace, runs: list, out: Path) -> None:
    from crl.experiments.sweep import sweep

    if args.parallel < 1:
        raise CrlError(f"--parallel must be at least 1, got {args.parallel}")
    if args.address and args.backend != "ray":
        raise CrlError("--address is for --backend ray")
    sweep(runs, out, args.backend, args.parallel, args.address, progress=not args.no_progress)


def _sweep(argv: Sequence[str]) -> int:
    from crl.experiments import sweep as sw

    parser = argparse.ArgumentParser(
        prog="crl sweep",
        allow_abbrev=False,
        epilog=SWEEP_EPILOG,
        description="Train every combination of datasets, agents (and MR-CRL variants) and seeds.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--datasets", required=True, help="comma-separated dataset names")
    parser.add_argument("--agents", default="crl", help="comma-separated: crl, mrcrl, gcbc (default crl)")
    parser.add_argument("--variants", default="", help="comma-separated MR-CRL variants (mrcrl runs only)")
    parser.add_argument("--seeds", type=int, default=1, help="seeds per dataset and arm (default 1)")
    parser.add_argument("--seed", type=int, default=0, help="the first seed (default 0)")
    parser.add_argument("--preset", help="one preset, or per agent: crl=paper,mrcrl=mrcrl-paper")
    parser.add_argument("--out", type=Path, required=True, help="the sweep's directory")
    _execution_flags(parser)
    args, extra = parser.parse_known_args(argv)
    datasets, agents = sw.parse_list(args.datasets), sw.parse_list(args.agents)
    variants = sw.parse_list(args.variants)
    sw.check_names(datasets, agents, variants)
    if args.seeds < 1:
        raise CrlError(f"--seeds must be at least 1, got {args.seeds}")
    arms = sw.arms_for(agents, variants, sw.parse_presets(args.preset))
    seeds = range(args.seed, args.seed + args.seeds)
    _launch(args, sw.expand(args.out, datasets, arms, seeds, not args.separate_seeds, extra), args.out)
    return 0


def _report(argv: Sequence[str]) -> int:
    from crl.experiments.report import to_markdown, write_report

    def run(
        directory: Annotated[Path, tyro.conf.Positional],
        baseline: str | None = None,
        out: Path | None = None,
        alpha: float = 0.05,
        reps: int = 2000,
        last_evals: int | None = None,
    ) -> None:
        """Tables and curves of every finished run under DIRECTORY (a sweep's --out, or any runs folder).

        Args:
            directory: Where the run directories are (searched recursively).
            baseline: The label others are tested against (default crl, else mrcrl).
            out: Where report.md, report.tex, report.csv, iqm.csv and curves/ go (default DIRECTORY/report).
            alpha: Significance level of Welch's t-test.
            reps: Bootstrap replications of the IQM's confidence intervals.
            last_evals: A seed's score is the mean of its last K evaluations (default: its preset's K, 3 for
                the paper presets as OGBench reports, 1 for quick).
        """
        if not directory.is_dir():
            raise CrlError(f"{directory} is not a directory: pass the --out of a sweep")
        if last_evals is not None and last_evals < 1:
            raise CrlError(f"--last-evals must be at least 1, got {last_evals}")
        report, where = write_report(directory, out, baseline, alpha, reps, last_evals)
        print(to_markdown(report))
        print(f"wrote {where}/report.md, report.tex, report.csv, iqm.csv and curves/")

    tyro.cli(run, args=argv, prog="crl report")
    return 0


def _reproduce(argv: Sequence[str]) -> int:
    from crl.data.names import check_dataset_name
    from crl.experiments import reproduce
    from crl.experiments import sweep as sw
    from crl.experiments.report import to_markdown, write_report

    parser = argparse.ArgumentParser(
        prog="crl reproduce",
        allow_abbrev=False,
        epilog="Other flags go to every crl train run.",
        description="Run the sweep behind a paper table with the paper presets, then report it.",
    )
    parser.add_argument("table", choices=tuple(reproduce.TABLES))
    parser.add_argument("--datasets", help="a comma-separated subset of the table's datasets")
    parser.add_argument("--seeds", type=int, help="seeds per dataset and arm (default: the paper's)")
    parser.add_argument("--out", type=Path, help="the sweep's directory (default runs/TABLE)")
    parser.add_argument("--dry-run", action="store_true", help="list the runs and their estimated GPU time")
    parser.add_argument(
        "--gpu-tflops",
        type=float,
        default=reproduce.ASSUMED_GPU_TFLOPS,
        help="achieved TFLOP/s the --dry-run estimate assumes",
    )
    _execution_flags(parser)
    args, extra = parser.parse_known_args(argv)
    table = reproduce.TABLES[args.table]
    datasets = table.datasets()
    if args.datasets:
        chosen = [d if sw.is_online(d) else check_dataset_name(d) for d in sw.parse_list(args.datasets)]
        outside = [d for d in chosen if d not in datasets]
        if outside:
            raise CrlError(f"{outside[0]} is not in {args.table}; its datasets: {', '.join(datasets)}")
        datasets = chosen
    seeds = range(args.seeds or table.seeds)
    out = args.out or Path("runs") / args.table
    runs = sw.expand(out, datasets, table.arms, seeds, not args.separate_seeds, extra)
    print(table.description)
    if args.dry_run:
        print(reproduce.dry_run(runs, args.gpu_tflops))
        return 0
    _launch(args, runs, out)
    report, where = write_report(out, baseline=table.baseline)
    print(to_markdown(report))
    print(f"wrote {where}/report.md, report.tex, report.csv, iqm.csv and curves/")
    return 0


def _analyze(args: Sequence[str]) -> int:
    from crl.analysis import commands

    subcommands = {
        name: getattr(commands, name)
        for name in ("probe", "tsne", "gradsim", "robustness", "transfer", "goaldim")
    }
    if not args or args[0] not in subcommands:
        print(
            f"usage: crl analyze {{{','.join(subcommands)}}} RUN_DIR... [FLAGS]  (`crl analyze probe --help`)"
        )
        return 0 if args and args[0] in ("-h", "--help") else 2
    tyro.cli(subcommands[args[0]], args=args[1:], prog=f"crl analyze {args[0]}")
    return 0


EXPERTS = {"ant": "online-ant-xy", "humanoid": "online-humanoid-xy", "antball": "online-antball"}


def _expert(args: Sequence[str]) -> int:
    """`crl expert train ant|humanoid|antball [crl train flags]`: SAC on OGBench's locomotion task with
    the `expert` preset, into DATA_DIR/experts/NAME unless --run-dir says otherwise."""
    from crl.data.experts import default_expert_dir
    from crl.data.names import data_dir

    if len(args) < 2 or args[0] != "train" or args[1] not in EXPERTS:
        print(f"usage: crl expert train {{{','.join(EXPERTS)}}} [--steps N] [--run-dir DIR] [--resume] "
              "[crl train flags]")  # fmt: skip
        return 0 if args and args[0] in ("-h", "--help") else 2
    name, rest = args[1], list(args[2:])
    if not any(a.split("=")[0] in ("--run-dir", "--run_dir") for a in rest):
        rest += ["--run-dir", str(default_expert_dir(data_dir(), name))]
    return _train(["--env", EXPERTS[name], "--agent", "sac", "--preset", "expert", *rest])


COMMANDS = {
    "train": _train,
    "eval": _eval,
    "data": _data,
    "envs": _envs,
    "plot": _plot,
    "presets": _presets,
    "bench": _bench,
    "sweep": _sweep,
    "report": _report,
    "reproduce": _reproduce,
    "analyze": _analyze,
    "expert": _expert,
}


def _quiet_third_party_warnings() -> None:
    """Warnings that say nothing to a crl user: no display for GLFW, gymnasium's float32 bounds."""
    warnings.filterwarnings("ignore", message=".*DISPLAY environment variable.*")
    warnings.filterwarnings("ignore", message=".*precision lowered by casting.*")


def _acting_device() -> None:
    """A second CPU device, before JAX starts: on a CPU-only machine the host robot tasks act on it while
    the updates run on the first (one device runs its programs in order), `crl.online_host`."""
    flags = os.environ.get("XLA_FLAGS", "")
    if "jax" not in sys.modules and "xla_force_host_platform_device_count" not in flags:
        os.environ["XLA_FLAGS"] = f"{flags} --xla_force_host_platform_device_count=2".strip()


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    _quiet_third_party_warnings()
    _acting_device()
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
    except OSError as exc:
        if (message := _os_error_line(exc)) is None:
            raise
        print(f"crl: error: {message}", file=sys.stderr)
        return 2


def _os_error_line(exc: OSError) -> str | None:
    """One line with the fix for the OS errors a user's set-up causes (a full disk, a directory crl may not
    write); None for any other (a bug, shown in full)."""
    where = f" {exc.filename}" if exc.filename else ""
    if exc.errno == errno.ENOSPC:
        return (
            f"no space left on the device{' of' + where if where else ''}: free space there, then run the "
            "same command again (with --resume for a training run; a generation keeps its finished chunks)"
        )
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return (
            f"cannot write{where or ' there'} ({exc.strerror}): give a directory crl can write "
            "(--run-dir, --data-dir or $CRL_DATA_DIR, --out)"
        )
    return None


if __name__ == "__main__":
    sys.exit(main())
