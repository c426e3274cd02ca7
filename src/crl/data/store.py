"""Finding a dataset's files (generating them when crl can), and loading them checked against the env."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import gymnasium
import numpy as np
import ogbench  # noqa: F401  (registers the environments)

from crl.data.dataset import check_spaces, read_npz, to_layout
from crl.data.generate import can_generate, generate, why_not_generated, written_by_crl
from crl.data.names import check_dataset_name, dataset_paths, env_name
from crl.data.visual import can_render
from crl.errors import CrlError
from crl.locks import dataset_lock


@dataclass
class LoadedDataset:
    name: str
    env_id: str
    train: dict[str, np.ndarray]  # regular layout
    val: dict[str, np.ndarray]
    obs_shape: tuple[int, ...]
    action_dim: int


def fix_hint(dataset: str, directory: Path) -> str:
    if can_render(dataset):
        return (
            f"render it with `crl data generate {dataset} --data-dir {directory} --workers N` (a few frames/s"
            " per core on a CPU: BENCHMARKS.md, 'Rendering pixel datasets'), or copy the official files there"
        )
    if can_generate(dataset):
        return f"make it with `crl data generate {dataset} --data-dir {directory}`"
    return (
        f"crl cannot make it ({why_not_generated(dataset)}): copy the official {dataset}.npz and "
        f"{dataset}-val.npz into {directory}, or run `crl data download {dataset}` where a network exists"
    )


def ensure_files(dataset: str, directory: Path, progress: bool = True) -> tuple[Path, Path]:
    """The dataset's two files, generated first if they are missing and crl can make them."""
    check_dataset_name(dataset)
    train_path, val_path = dataset_paths(dataset, directory)
    if train_path.exists() and val_path.exists():
        return train_path, val_path
    # A pixel dataset takes days to render on a CPU: generated when asked for, not on first use.
    if not can_generate(dataset) or can_render(dataset):
        missing = train_path if not train_path.exists() else val_path
        raise CrlError(f"dataset file {missing} not found; {fix_hint(dataset, directory)}")
    present = next((p for p in (train_path, val_path) if p.exists()), None)
    if present is not None and not written_by_crl(dataset, directory, present):
        missing = val_path if present == train_path else train_path
        raise CrlError(
            f"{missing} not found, and {present.name} beside it was not written by crl: copy {missing.name} "
            f"into {directory}, or remove {present.name} so that crl can generate both"
        )
    with dataset_lock(directory, dataset):  # another process (a parallel run) may be making it: wait
        if train_path.exists() and val_path.exists():
            return train_path, val_path
        print(f"{dataset} is not in {directory}: generating it locally (done once, then cached)")
        return generate(dataset, directory, progress=progress)


def env_spaces(env_id: str) -> tuple[tuple[int, ...], int]:
    env = gymnasium.make(env_id)
    return tuple(env.observation_space.shape), int(env.action_space.shape[0])


def load(dataset: str, directory: Path, progress: bool = True) -> LoadedDataset:
    env_id = env_name(dataset)
    paths = ensure_files(dataset, directory, progress)
    obs_shape, action_dim = env_spaces(env_id)
    splits = []
    for path in paths:
        arrays = read_npz(path, fix_hint(dataset, directory))
        check_spaces(path, arrays, env_id, obs_shape, action_dim)
        splits.append(to_layout(arrays))
    return LoadedDataset(dataset, env_id, splits[0], splits[1], obs_shape, action_dim)
