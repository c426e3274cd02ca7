"""Making a dataset locally and writing it in OGBench's file layout, atomically, with a manifest."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
from tqdm import tqdm

from crl import __version__
from crl.data.names import check_dataset_name, dataset_paths
from crl.data.pointmaze import RECIPES, PointmazeGenerator
from crl.errors import CrlError


def can_generate(dataset: str) -> bool:
    return dataset in RECIPES


def default_episodes(dataset: str) -> int:
    return RECIPES[dataset].episodes


def manifest_path(directory: Path, dataset: str) -> Path:
    return directory / f"{dataset}.crl.json"


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_npz_atomic(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write to a temporary file beside `path`, then rename: readers see the old file or the whole new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as file:
            np.savez_compressed(file, **arrays)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def generate(
    dataset: str, directory: Path, episodes: int | None = None, seed: int = 0, progress: bool = True
) -> tuple[Path, Path]:
    """Generate `dataset` (training file and the `-val` file) into `directory`; return their paths."""
    check_dataset_name(dataset)
    if not can_generate(dataset):
        raise CrlError(
            f"crl cannot make {dataset} here (its recipe needs a trained expert); "
            f"place the official files in {directory}"
        )
    recipe = RECIPES[dataset]
    episodes = recipe.episodes if episodes is None else episodes
    if episodes < 1:
        raise CrlError(f"--episodes must be at least 1, got {episodes}")
    val_episodes = max(1, episodes // 10)
    generator = PointmazeGenerator(recipe, seed)
    train_path, val_path = dataset_paths(dataset, directory)
    total = (episodes + val_episodes) * recipe.episode_steps
    with tqdm(
        total=total, desc=f"generating {dataset}", unit="step", unit_scale=True, disable=not progress
    ) as bar:
        splits = []
        for split, count in ((0, episodes), (1, val_episodes)):
            chunks = []
            for index in range(count):
                chunks.append(generator.episode(split, index))
                bar.update(recipe.episode_steps)
            splits.append({k: np.concatenate([c[k] for c in chunks]) for k in chunks[0]})
    write_npz_atomic(train_path, splits[0])
    write_npz_atomic(val_path, splits[1])
    manifest = dict(
        dataset=dataset,
        generator=f"crl {__version__}",
        recipe=dict(vars(recipe)),
        seed=seed,
        episodes=episodes,
        val_episodes=val_episodes,
        sha256={train_path.name: sha256(train_path), val_path.name: sha256(val_path)},
    )
    manifest_path(directory, dataset).write_text(json.dumps(manifest, indent=2) + "\n")
    return train_path, val_path
