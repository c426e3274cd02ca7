"""The locomotion experts a dataset's recipe drives: which ones, where they are, and whether each has run
all its steps. Only a finished expert makes data: a checkpoint halfway through is not the published
recipe. Everything here reads the run's files alone, so that `crl data list` need not start JAX."""

from __future__ import annotations

import json
from pathlib import Path
from typing import NamedTuple

from crl.data import antsoccer, locomaze, visual
from crl.errors import CrlError

_RECIPES: dict = {**locomaze.RECIPES, **antsoccer.RECIPES}


def experts_needed(dataset: str) -> tuple[str, ...]:
    """The locomotion experts a dataset's recipe drives ('ant', 'humanoid', 'antball'), if any."""
    return getattr(_RECIPES.get(visual.state_dataset(dataset)), "experts", ())


def default_expert_dir(directory: Path, name: str) -> Path:
    """Where `crl expert train NAME` puts an expert for the data in `directory`."""
    return directory / "experts" / name


def expert_progress(run_dir: Path) -> tuple[int, int] | None:
    """(the latest checkpoint's step, the steps the run was asked for) of the expert run in `run_dir`;
    None when no run is there."""
    try:
        config = json.loads((run_dir / "config.json").read_text())["config"]
    except FileNotFoundError:
        return None
    one_seed = config.get("seeds", 1) == 1
    seed_dir = run_dir if one_seed else run_dir / f"seed{config['seed']}"  # seed 0's, as train.seed_runs
    # A finished save is a directory named by its step (orbax renames it there whole): what orbax's
    # latest_step lists on a local disk.
    saved = [int(p.name) for p in (seed_dir / "checkpoints").glob("*") if p.name.isdigit() and p.is_dir()]
    return max(saved, default=0), config["steps"]


class ExpertTodo(NamedTuple):
    """What an expert still needs before it may drive a dataset: the command, and its step so far if begun."""

    command: str
    progress: tuple[int, int] | None

    def __str__(self) -> str:
        return self.command + (f", at {self.steps}" if self.progress else "")

    @property
    def steps(self) -> str:
        done, asked = self.progress or (0, 0)
        return f"step {done:,} of {asked:,}"


def expert_todo(name: str, run_dir: Path, directory: Path) -> ExpertTodo | None:
    """How to train, or finish, the expert run in `run_dir`; None once it has run all its steps."""
    progress = expert_progress(run_dir)
    default = run_dir.resolve() == default_expert_dir(directory, name).resolve()
    where = "" if default else f" --run-dir {run_dir}"
    if progress is None:
        return ExpertTodo(f"`crl expert train {name}{where}`", None)
    if progress[0] < progress[1]:
        return ExpertTodo(f"`crl expert train {name} --resume{where}`", progress)
    return None


def missing_experts(dataset: str, directory: Path) -> dict[str, ExpertTodo]:
    """The dataset's experts not trained to their last step in their default place, each with what it
    needs. Only finished experts make datasets: a checkpoint halfway through is not the published recipe."""
    todo = {e: expert_todo(e, default_expert_dir(directory, e), directory) for e in experts_needed(dataset)}
    return {e: t for e, t in todo.items() if t}


def expert_dirs(dataset: str, directory: Path, experts: dict[str, Path] | None) -> dict[str, Path]:
    """Where each of the dataset's experts is: `experts[name]`, else DIR/experts/NAME (`crl expert train
    NAME`'s default); one line saying how to train or finish one that is not there or not done."""
    found = {}
    for name in experts_needed(dataset):
        run_dir = Path((experts or {}).get(name) or default_expert_dir(directory, name))
        if todo := expert_todo(name, run_dir, directory):
            problem = (
                f"is unfinished in {run_dir} ({todo.steps}): finish it with {todo.command}"
                if todo.progress
                else f"is not in {run_dir}: train it with {todo.command}"
            )
            instead = "" if experts and name in experts else f", or pass --expert {name}=RUN_DIR"
            raise CrlError(f"{dataset} is driven by the {name} expert, which {problem}{instead}")
        found[name] = run_dir
    return found


def expert_record(expert: Path) -> dict:
    """Which expert made a dataset: its run directory and the checkpoint (step) its policy came from."""
    return {"run_dir": str(expert.resolve()), "step": expert_progress(expert)[0]}
