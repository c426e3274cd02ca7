"""OGBench dataset names, where their files live, and the environment each one belongs to."""

from __future__ import annotations

import difflib
import os
from pathlib import Path

from crl.errors import CrlError

_MAZES = ("medium", "large", "giant", "teleport")
_HUMANOID_MAZES = ("medium", "large", "giant")
_PUZZLES = ("3x3", "4x4", "4x5", "4x6")
_CUBES = ("single", "double", "triple", "quadruple")


def _official_names() -> tuple[str, ...]:
    names = []
    for kind in ("navigate", "stitch"):
        names += [f"pointmaze-{m}-{kind}-v0" for m in _MAZES]
    for prefix in ("", "visual-"):
        for kind in ("navigate", "stitch"):
            names += [f"{prefix}antmaze-{m}-{kind}-v0" for m in _MAZES]
        names += [f"{prefix}antmaze-{m}-explore-v0" for m in ("medium", "large", "teleport")]
        for kind in ("navigate", "stitch"):
            names += [f"{prefix}humanoidmaze-{m}-{kind}-v0" for m in _HUMANOID_MAZES]
    names += [f"antsoccer-{m}-{kind}-v0" for kind in ("navigate", "stitch") for m in ("arena", "medium")]
    for prefix in ("", "visual-"):
        for kind in ("play", "noisy"):
            names += [f"{prefix}cube-{c}-{kind}-v0" for c in _CUBES]
            names += [f"{prefix}scene-{kind}-v0"]
            names += [f"{prefix}puzzle-{p}-{kind}-v0" for p in _PUZZLES]
    names += [f"powderworld-{level}-play-v0" for level in ("easy", "medium", "hard")]
    return tuple(names)


OFFICIAL_DATASETS: tuple[str, ...] = _official_names()

DATA_DIR_ENV = "CRL_DATA_DIR"
OGBENCH_DEFAULT_DIR = "~/.ogbench/data"


def check_dataset_name(name: str) -> str:
    """Return `name` if OGBench publishes such a dataset, else raise a one-line error with suggestions."""
    if name in OFFICIAL_DATASETS:
        return name
    close = difflib.get_close_matches(name, OFFICIAL_DATASETS, n=3, cutoff=0.6)
    hint = f"did you mean {', '.join(close)}?" if close else "run `crl data list` for every name"
    raise CrlError(f"unknown dataset '{name}': {hint}")


def env_name(dataset: str) -> str:
    """The gymnasium id of a dataset's environment: the dataset name without its type ('navigate', ...)."""
    parts = check_dataset_name(dataset).split("-")
    return "-".join(parts[:-2] + parts[-1:])


def data_dir(override: str | os.PathLike | None = None) -> Path:
    """Where datasets live: `override`, else $CRL_DATA_DIR, else ogbench's own default (~/.ogbench/data)."""
    chosen = override or os.environ.get(DATA_DIR_ENV) or OGBENCH_DEFAULT_DIR
    path = Path(chosen).expanduser()
    blocking = next((p for p in (path, *path.parents) if p.exists() and not p.is_dir()), None)
    if blocking is not None:
        raise CrlError(
            f"data directory {path} cannot be used: {blocking} is a file; pass --data-dir (or set "
            f"${DATA_DIR_ENV}) to a directory"
        )
    return path


def dataset_paths(dataset: str, directory: Path) -> tuple[Path, Path]:
    """The training file and the validation file beside it, in OGBench's naming."""
    return directory / f"{dataset}.npz", directory / f"{dataset}-val.npz"
