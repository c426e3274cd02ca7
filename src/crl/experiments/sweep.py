"""Sweeps: a grid of datasets x arms (agent, variant, preset) x seeds, expanded into `crl train` runs.

Every seed's results land in an ordinary run directory: OUT/DATASET/LABEL/seedS, or
OUT/DATASET/LABEL/seedsA-B/seedS when seeds A..B of one (dataset, arm) train together in one
compiled program (`crl train --seeds N`, the default), so that one run covers them all.
OUT/sweep.json records each run's flags: re-running a sweep skips finished runs, resumes
interrupted ones from their checkpoints, and refuses a directory started with other flags, so
runs cannot be lost or mixed up.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from tqdm import tqdm

from crl.config import TrainConfig
from crl.errors import CrlError

MANIFEST = "sweep.json"
# Flags the sweep sets per run: given to `crl sweep` they would make every run write the same directory.
RESERVED_FLAGS = ("--run-dir", "--run_dir", "--resume", "--dataset", "--env", "--agent", "--seeds")


@dataclass(frozen=True)
class Arm:
    """One column of a results table: an agent, its variant (MR-CRL ablations) and its preset; a paper
    figure's arm also sets agent flags and names itself."""

    agent: str
    preset: str
    variant: str | None = None
    flags: tuple[str, ...] = ()  # crl train flags of this arm (e.g. --agent.relabel-filter 1.0)
    name: str | None = None  # its label, where flags make it differ from the preset

    @property
    def label(self) -> str:
        if self.name:
            return self.name
        return self.agent if self.variant in (None, "baseline") else f"{self.agent}-{self.variant}"


@dataclass(frozen=True)
class Run:
    """One `crl train` invocation: one dataset (or online environment) and arm, one seed or a group
    trained together."""

    dataset: str
    arm: Arm
    seeds: tuple[int, ...]
    run_dir: Path
    args: tuple[str, ...]  # crl train's flags; the sweep adds --resume when it launches the run

    @property
    def seed_dirs(self) -> list[Path]:
        return [self.run_dir] if len(self.seeds) == 1 else [self.run_dir / f"seed{s}" for s in self.seeds]

    @property
    def name(self) -> str:
        seeds = str(self.seeds[0]) if len(self.seeds) == 1 else f"{self.seeds[0]}-{self.seeds[-1]}"
        return f"{self.dataset} {self.arm.label} seed {seeds}"

    @property
    def log_path(self) -> Path:
        return self.run_dir / "train.log"


def arms_for(agents: Sequence[str], variants: Sequence[str], presets: dict[str, str]) -> list[Arm]:
    """Agents x variants (variants apply to the agents that have them); presets maps agent -> preset."""
    from crl.agents.registry import AGENTS

    with_variants = [name for name, spec in AGENTS.items() if spec.variants]
    if variants and not any(a in with_variants for a in agents):
        raise CrlError(f"--variants applies to {', '.join(with_variants)}; add it to --agents")
    arms = []
    for agent in agents:
        preset = presets.get(agent, presets.get("*", "quick"))
        if agent in with_variants and variants:
            arms += [Arm(agent, preset, v) for v in variants]
        else:
            arms.append(Arm(agent, preset))
    return arms


def expand(
    out: Path,
    datasets: Sequence[str],
    arms: Sequence[Arm],
    seeds: Sequence[int],
    together: bool,
    extra: Sequence[str],
) -> list[Run]:
    """The runs of the grid, with the flags of each; `extra` (any crl train flags) goes to every run."""
    bad = [f for f in extra if f.split("=")[0] in RESERVED_FLAGS]
    if bad:
        raise CrlError(f"{bad[0]} is set by crl sweep for each run; use --datasets, --agents, --seeds, --out")
    if not any(f.split("=")[0] in ("--data-dir", "--data_dir") for f in extra):
        from crl.data.names import data_dir

        extra = [*extra, "--data-dir", str(data_dir().absolute())]  # workers may not share our env or cwd
    groups = [tuple(seeds)] if together else [(s,) for s in seeds]
    runs = []
    for dataset in datasets:
        for arm in arms:
            for group in groups:
                arm_dir = out.absolute() / dataset / arm.label
                # A group's directory names its seeds, so a later sweep can add seeds beside it.
                name = f"seed{group[0]}" if len(group) == 1 else f"seeds{group[0]}-{group[-1]}"
                run_dir = arm_dir / name
                source = "--env" if is_online(dataset) else "--dataset"
                args = [source, dataset, "--agent", arm.agent, "--preset", arm.preset]
                args += ["--seed", str(group[0]), "--seeds", str(len(group)), "--run-dir", str(run_dir)]
                args += [] if arm.variant is None else ["--agent.variant", arm.variant]
                args += arm.flags
                runs.append(Run(dataset, arm, group, run_dir, (*args, "--no-progress", *extra)))
    return runs


def is_online(name: str) -> bool:
    """An online environment's name (`crl envs list`), not a dataset's."""
    from crl.envs import names

    return name in names()


def run_config(run: Run) -> TrainConfig:
    """The config `crl train` will use for the run; flags it rejects become a one-line error."""
    from crl.train_args import parse_train_args

    try:
        config = parse_train_args(run.args, prog=f"crl train ({run.name})")
    except SystemExit:
        raise CrlError(f"crl train rejects the flags of run '{run.name}' (tyro's message above)") from None
    config.validate()
    return config


def _finished(seed_dir: Path, config: TrainConfig) -> bool:
    if config.eval_episodes:
        from crl.train import logged_evaluation

        return logged_evaluation(seed_dir, config.steps) is not None
    return (seed_dir / "checkpoints" / str(config.steps)).is_dir()


def run_state(run: Run, config: TrainConfig) -> Literal["done", "resume", "new"]:
    if all(_finished(d, config) for d in run.seed_dirs):
        return "done"
    saved = [p for d in run.seed_dirs if (d / "checkpoints").is_dir() for p in (d / "checkpoints").iterdir()]
    return "resume" if any(p.name.isdigit() for p in saved) else "new"  # Orbax names finished saves by step


def update_manifest(out: Path, runs: Sequence[Run]) -> None:
    """Add the runs to OUT/sweep.json; a run directory already there must come with the same flags."""
    path = out / MANIFEST
    try:
        recorded = json.loads(path.read_text())["runs"] if path.exists() else {}
    except (json.JSONDecodeError, KeyError) as exc:
        raise CrlError(f"{path} is unreadable ({exc}); move it away or choose another --out") from None
    for run in runs:
        key = str(run.run_dir.relative_to(out.absolute()))
        old = recorded.get(key)
        if old is not None and old["args"] != list(run.args):
            was, now = _flag_values(old["args"]), _flag_values(run.args)
            changed = [
                f"{k} {was.get(k, '(unset)')} -> {now.get(k, '(unset)')}"
                for k in sorted(was.keys() | now.keys())
                if was.get(k) != now.get(k)
            ]
            raise CrlError(
                f"{run.run_dir} was started with other flags ({'; '.join(changed[:3])}); "
                f"re-run with the flags recorded in {path}, or choose another --out"
            )
        recorded[key] = {
            "dataset": run.dataset,
            "label": run.arm.label,
            "seeds": list(run.seeds),
            "args": list(run.args),
        }
    out.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps({"runs": recorded}, indent=2) + "\n")
    tmp.replace(path)


def _flag_values(args: Sequence[str]) -> dict[str, str]:
    """--flag -> the words after it, up to the next flag."""
    values: dict[str, list[str]] = {}
    for word in args:
        if word.startswith("--"):
            key, _, value = word.partition("=")
            values[key] = [value] if value else []
        elif values:
            values[list(values)[-1]].append(word)
    return {k: " ".join(v) for k, v in values.items()}


def train_in_subprocess(
    args: Sequence[str], log_path: str, cwd: str, env: dict[str, str] | None = None
) -> int:
    """Run `crl train ARGS --resume` with this Python, appending its output to `log_path`."""
    command = [sys.executable, "-m", "crl.cli", "train", *args, "--resume"]
    Path(log_path).parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "a") as log:
        log.write(f"\n[{time.strftime('%Y-%m-%d %H:%M:%S')}] {' '.join(command)}\n")
        log.flush()
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}  # the log stays current if killed
        done = subprocess.run(
            command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=cwd, env=env
        )
    return done.returncode


OnDone = Callable[[Run, int], None]


def run_local(runs: Sequence[Run], parallel: int, on_done: OnDone) -> None:
    """Runs in turn, or `parallel` at once, each in its own process."""
    from concurrent.futures import ThreadPoolExecutor, as_completed

    # Runs sharing a GPU must not each reserve most of its memory up front, as JAX does by default.
    env = {"XLA_PYTHON_CLIENT_PREALLOCATE": "false"} if parallel > 1 else {}
    with ThreadPoolExecutor(max_workers=parallel) as pool:
        futures = {
            pool.submit(train_in_subprocess, r.args, str(r.log_path), os.getcwd(), env): r for r in runs
        }
        for future in as_completed(futures):
            on_done(futures[future], future.result())


def run_ray(runs: Sequence[Run], address: str | None, on_done: OnDone) -> None:
    """Each run is a Ray task asking for one GPU when the cluster has any; `address` joins a cluster
    (None starts a local one). Workers need crl installed and OUT on a shared filesystem."""
    try:
        import ray
    except ImportError:
        raise CrlError("the ray backend needs Ray: pip install 'crl[ray]'") from None
    ray.init(address=address, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        gpus = 1 if ray.cluster_resources().get("GPU", 0) >= 1 else 0
        task = ray.remote(num_cpus=1, num_gpus=gpus, max_retries=0)(train_in_subprocess)
        pending = {task.remote(r.args, str(r.log_path), os.getcwd()): r for r in runs}
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                on_done(pending.pop(ref), ray.get(ref))
    finally:
        ray.shutdown()


def sweep(
    runs: Sequence[Run],
    out: Path,
    backend: Literal["local", "ray"] = "local",
    parallel: int = 1,
    address: str | None = None,
    progress: bool = True,
) -> None:
    """Check every run's flags, skip finished runs, then train the rest (resuming interrupted ones)."""
    configs = [run_config(r) for r in runs]
    update_manifest(out, runs)
    states = [run_state(r, c) for r, c in zip(runs, configs, strict=True)]
    todo = [r for r, s in zip(runs, states, strict=True) if s != "done"]
    counts = {s: states.count(s) for s in ("done", "resume", "new")}
    print(
        f"sweep {out}: {len(runs)} runs ({counts['done']} finished, skipped; "
        f"{counts['resume']} to resume; {counts['new']} new) on the {backend} backend"
    )
    failed: list[Run] = []
    bar = tqdm(total=len(todo), desc="sweep", unit="run", disable=not progress or not todo)

    def on_done(run: Run, code: int) -> None:
        bar.write(f"{'finished' if code == 0 else f'FAILED (exit {code})'}: {run.name}  (log {run.log_path})")
        if code != 0:
            failed.append(run)
        bar.update(1)

    with bar:
        if backend == "ray":
            run_ray(todo, address, on_done)
        else:
            run_local(todo, parallel, on_done)
    if failed:
        raise CrlError(
            f"{len(failed)} of {len(todo)} runs failed, the first {failed[0].name} "
            f"(see {failed[0].log_path}); "
            "fix it and re-run the same command: finished runs are skipped"
        )
    print(f"all {len(runs)} runs finished; `crl report {out}` makes the tables")


def parse_list(value: str) -> list[str]:
    return [v for v in value.split(",") if v]


def parse_presets(value: str | None) -> dict[str, str]:
    """'paper' (every agent) or 'crl=paper,mrcrl=mrcrl-paper' (per agent)."""
    if not value:
        return {}
    if "=" not in value:
        return {"*": value}
    pairs = [item.split("=", 1) for item in parse_list(value)]
    return dict(pairs)


def check_names(datasets: Iterable[str], agents: Iterable[str], variants: Iterable[str] = ()) -> None:
    from crl.agents.registry import AGENTS
    from crl.config import MRCRL_VARIANTS
    from crl.data.names import check_dataset_name

    for variant in variants:
        if variant not in MRCRL_VARIANTS:
            raise CrlError(
                f"unknown variant '{variant}' in --variants: choose from {', '.join(MRCRL_VARIANTS)}"
            )

    for dataset in datasets:
        check_dataset_name(dataset)
    for agent in agents:
        if agent not in AGENTS:
            raise CrlError(f"unknown agent '{agent}' in --agents: choose from {', '.join(AGENTS)}")
