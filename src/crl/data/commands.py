"""`crl data list | generate | verify | download`."""

from __future__ import annotations

import socket
import urllib.parse
from pathlib import Path
from typing import Annotated

import tyro

from crl.data.experts import experts_needed, missing_experts
from crl.data.generate import can_generate, default_episodes, generate, manifest_path, why_not_generated
from crl.data.names import OFFICIAL_DATASETS, check_dataset_name, dataset_paths
from crl.data.names import data_dir as resolve_data_dir
from crl.data.verify import verify as verify_file
from crl.errors import CrlError


def list_datasets(data_dir: Path | None = None) -> None:
    """List every OGBench dataset: present in the data directory, and whether crl can generate it here.

    Args:
        data_dir: Dataset directory (default: $CRL_DATA_DIR, else ~/.ogbench/data).
    """
    directory = resolve_data_dir(data_dir)
    print(f"datasets in {directory}\n")
    print(f"{'name':40s} {'present':18s} can generate here")
    for name in OFFICIAL_DATASETS:
        train, val = dataset_paths(name, directory)
        present = "no"
        if train.exists() and val.exists():
            present = "yes (crl-made)" if manifest_path(directory, name).exists() else "yes"
        print(f"{name:40s} {present:18s} {_how_to_make(name, directory)}")


def _how_to_make(name: str, directory: Path) -> str:
    """`crl data list`'s last column: whether crl can make the dataset here, and what it needs first."""
    if not can_generate(name):
        return f"no: {why_not_generated(name)}; `crl data download {name}`"
    if missing := missing_experts(name, directory):
        return "generate with an expert (" + "; ".join(map(str, missing.values())) + ")"
    if experts := experts_needed(name):
        return f"yes (with the {' and '.join(experts)} expert in {directory / 'experts'})"
    return "yes"


def _expert_flags(dataset: str, values: tuple[str, ...]) -> dict[str, Path]:
    """--expert NAME=RUN_DIR (or RUN_DIR, for a dataset of one expert) -> {NAME: RUN_DIR}."""
    needed = experts_needed(dataset)
    out = {}
    for value in values:
        name, _, run_dir = value.rpartition("=")
        if not name and len(needed) == 1:
            name = needed[0]
        if name not in needed:
            wants = f"its experts: {', '.join(needed)}" if needed else "it needs no expert"
            raise CrlError(
                f"--expert {value}: {dataset} is not driven by that expert ({wants}); give NAME=RUN_DIR"
            )
        out[name] = Path(run_dir)
    return out


def generate_dataset(
    name: Annotated[str, tyro.conf.Positional],
    episodes: int | None = None,
    seed: int = 0,
    workers: int = 1,
    data_dir: Path | None = None,
    expert: tuple[str, ...] = (),
) -> None:
    """Generate an OGBench dataset locally with the environment's oracles (the `-val` file too).

    A killed generation resumes where it stopped when run again with the same arguments.

    Args:
        name: Dataset name, for example pointmaze-medium-navigate-v0 or cube-single-play-v0.
        episodes: Training episodes (default: OGBench's count); validation gets a tenth, at least 1.
        seed: Generation seed; the same seed gives the same files, whatever the number of workers.
        workers: Worker processes generating chunks of episodes side by side.
        data_dir: Dataset directory (default: $CRL_DATA_DIR, else ~/.ogbench/data).
        expert: The expert runs that drive an antmaze, humanoidmaze or antsoccer dataset, as NAME=RUN_DIR
            (NAME: ant, humanoid, antball), or RUN_DIR alone where the dataset needs one expert (default:
            DATA_DIR/experts/NAME, where `crl expert train NAME` puts it).
    """
    check_dataset_name(name)
    directory = resolve_data_dir(data_dir)
    if can_generate(name):
        count = default_episodes(name) if episodes is None else episodes
        print(f"generating {name}: {count} episodes, seed {seed}, {workers} worker(s), into {directory}")
    experts = _expert_flags(name, expert)
    train, val = generate(name, directory, episodes=episodes, seed=seed, workers=workers, experts=experts)
    print(f"done: {train}\ndone: {val}")


def verify(path: Annotated[Path, tyro.conf.Positional]) -> None:
    """Check a dataset file against its spec: readable, complete and finite; trajectory ends; observation
    and action sizes of its environment; episode count and lengths of its recipe; action range; the
    checksum and oracle success rate in a crl manifest beside it.

    Args:
        path: A .npz dataset file (training or -val).
    """
    s = verify_file(path)
    print(f"{path}: ok")
    print(f"  dataset        {s['dataset'] or 'unknown (the file name does not follow OGBench naming)'}")
    print(f"  episodes       {s['episodes']}, length {s['lengths'][0]}..{s['lengths'][1]}")
    for key, (shape, dtype) in s["arrays"].items():
        print(f"  {key:14s} {shape} {dtype}")
    print(f"  observations   range [{s['obs_range'][0]:.3f}, {s['obs_range'][1]:.3f}]")
    print(f"  actions        range [{s['action_range'][0]:.3f}, {s['action_range'][1]:.3f}]")
    if "oracle_success_rate" in s:
        print(f"  oracle         completed a task in {s['oracle_success_rate']:.0%} of episodes")
    print(f"  checksum       {s['checksum']}")


def _reachable(url: str, timeout: float = 3.0) -> bool:
    host = urllib.parse.urlparse(url).hostname
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def download(name: Annotated[str, tyro.conf.Positional], data_dir: Path | None = None) -> None:
    """Fetch the official files of a dataset with ogbench's own downloader (needs a network).

    Args:
        name: Dataset name.
        data_dir: Dataset directory (default: $CRL_DATA_DIR, else ~/.ogbench/data).
    """
    from ogbench.utils import DATASET_URL, download_datasets

    check_dataset_name(name)
    directory = resolve_data_dir(data_dir)
    if not _reachable(DATASET_URL):
        fix = f"make it here with `crl data generate {name}`" if can_generate(name) else (
            f"copy {name}.npz and {name}-val.npz from a machine that has a network into {directory}"
        )  # fmt: skip
        raise CrlError(f"no network: the official files cannot be fetched from here; {fix}")
    download_datasets([name], str(directory))
    print(f"downloaded {name} into {directory}")
