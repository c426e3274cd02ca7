"""Making a dataset locally in OGBench's file layout: in chunks, in parallel, resumably, atomically.

Episodes are generated in chunks of consecutive episodes; each finished chunk is saved under
`DIR/.NAME.parts/`. The final files are assembled from the chunks in order and written under
their names only when every chunk exists, so a killed generation leaves no half-written dataset,
and running it again redoes only the missing chunks. Each episode is seeded by (seed, split,
index), so the result is the same for any number of workers.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import shutil
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np
from tqdm import tqdm

from crl import __version__
from crl.checksums import sha256
from crl.data import antsoccer, locomaze, manipspace, visual
from crl.data.dataset import read_npz
from crl.data.experts import expert_dirs, expert_record
from crl.data.names import check_dataset_name, dataset_paths
from crl.data.npz import write_npz_atomic, write_npz_pieces
from crl.errors import CrlError
from crl.locks import dataset_lock

RECIPES: dict = {**locomaze.RECIPES, **antsoccer.RECIPES, **manipspace.RECIPES}
CHUNK_STEPS = 5_000  # about this many transitions per chunk (at least one episode): work for every worker
# Rendering: one episode a chunk (a manipulation episode is 1,001 frames, minutes on a CPU), so that the
# progress bar moves and a killed render loses little.
RENDER_CHUNK_FRAMES = 1


def can_generate(dataset: str) -> bool:
    return dataset in RECIPES or visual.can_render(dataset)


def why_not_generated(dataset: str) -> str:
    return "crl has no generator for it"


def default_episodes(dataset: str) -> int:
    return RECIPES[visual.state_dataset(dataset)].episodes


def manifest_path(directory: Path, dataset: str) -> Path:
    return directory / f"{dataset}.crl.json"


def written_by_crl(dataset: str, directory: Path, path: Path) -> bool:
    """Whether `path` is crl's own: the manifest records its checksum, or crl's unfinished generation of
    the dataset (its parts directory) is there to finish writing it. Anything else was placed by a user."""
    if (directory / f".{dataset}.parts").is_dir():
        return True
    return _read_manifest(directory, dataset).get("sha256", {}).get(path.name) == sha256(path)


def make_generator(dataset: str, seed: int, experts: dict[str, Path] | None = None):
    recipe = RECIPES[dataset]
    if isinstance(recipe, antsoccer.SoccerRecipe):
        return antsoccer.SoccerGenerator(recipe, seed, antsoccer.load_experts(experts))
    if isinstance(recipe, locomaze.MazeRecipe):
        policy = locomaze.load_expert(experts[recipe.robot], recipe) if recipe.experts else None
        return locomaze.MazeGenerator(recipe, seed, policy)
    return manipspace.ManipGenerator(recipe, seed)


_GENERATORS: dict = {}  # one generator (environment instance) per dataset, seed and experts, per process


def generate_chunk(
    dataset: str, seed: int, split: int, start: int, count: int, path: Path, experts: dict | None = None
) -> int:
    """Episodes start .. start + count - 1 of `split`, saved to `path`; returns the number of steps."""
    key = (dataset, seed, tuple(sorted((experts or {}).items())))
    if key not in _GENERATORS:
        _GENERATORS[key] = make_generator(dataset, seed, experts)
    episodes = [_GENERATORS[key].episode(split, start + i) for i in range(count)]
    arrays = {k: np.concatenate([ep[k] for ep, _ in episodes]) for k in episodes[0][0]}
    tasks = [t for _, t in episodes]
    arrays["oracle_tasks"] = np.asarray(tasks, np.int64)  # kept in the part file only
    write_npz_atomic(path, arrays)
    return len(arrays["terminals"])


def _chunks(episodes: int, val_episodes: int, per_chunk: int) -> list[tuple[int, int, int]]:
    """(split, first episode, episode count) of every chunk, training split first."""
    out = []
    for split, count in ((0, episodes), (1, val_episodes)):
        out += [(split, start, min(per_chunk, count - start)) for start in range(0, count, per_chunk)]
    return out


def _part_path(parts: Path, split: int, start: int) -> Path:
    return parts / f"split{split}-episode{start:06d}.npz"


def generate(
    dataset: str,
    directory: Path,
    episodes: int | None = None,
    seed: int = 0,
    workers: int = 1,
    progress: bool = True,
    chunk_episodes: int | None = None,
    experts: dict[str, Path] | None = None,
) -> tuple[Path, Path]:
    """Generate `dataset` (training file and the `-val` file) into `directory`; return their paths. An
    antmaze, humanoidmaze or antsoccer dataset is driven by its experts: `experts[name]`, else
    DIR/experts/NAME."""
    check_dataset_name(dataset)
    if not can_generate(dataset):
        raise CrlError(
            f"crl cannot make {dataset} here ({why_not_generated(dataset)}); place the official files in "
            f"{directory}, or fetch them with `crl data download {dataset}` where a network exists"
        )
    for path in dataset_paths(dataset, directory):
        if path.exists() and not written_by_crl(dataset, directory, path):
            raise CrlError(
                f"{path} is already there and crl did not write it, so crl will not replace it: move it "
                f"out of {directory} to generate {dataset} there, or use another --data-dir"
            )
    with dataset_lock(directory, dataset):  # a second process making it waits, not races to assemble it
        if visual.can_render(dataset):
            return _render_pixels(dataset, directory, episodes, seed, workers, progress, experts)
        job = (episodes, seed, workers, progress, chunk_episodes, experts)
        return _generate_states(dataset, directory, *job)


def _generate_states(
    dataset: str,
    directory: Path,
    episodes: int | None,
    seed: int,
    workers: int,
    progress: bool,
    chunk_episodes: int | None,
    experts: dict[str, Path] | None,
) -> tuple[Path, Path]:
    recipe = RECIPES[dataset]
    experts = expert_dirs(dataset, directory, experts)
    episodes = recipe.episodes if episodes is None else episodes
    if episodes < 1 or workers < 1:
        raise CrlError(f"--episodes and --workers must be at least 1, got {episodes} and {workers}")
    val_episodes = max(1, episodes // 10)
    per_chunk = chunk_episodes or max(1, CHUNK_STEPS // recipe.episode_steps)
    made = {"experts": {name: expert_record(d) for name, d in experts.items()}} if experts else {}
    settings = dict(recipe=dict(vars(recipe)), seed=seed, episodes=episodes, **made)
    if _already_made(dataset, directory, settings):
        print(f"{dataset} is already made in {directory} with these settings (checksums match): kept")
        return dataset_paths(dataset, directory)
    made_by = f"-experts{_fingerprint(experts)}" if experts else ""  # other experts: other episodes
    parts = directory / f".{dataset}.parts" / f"seed{seed}-episodes{episodes}-chunk{per_chunk}{made_by}"
    parts.mkdir(parents=True, exist_ok=True)
    chunks = _chunks(episodes, val_episodes, per_chunk)
    todo = [c for c in chunks if not _part_path(parts, c[0], c[1]).exists()]
    total = sum(c[2] for c in chunks) * recipe.episode_steps
    done = total - sum(c[2] for c in todo) * recipe.episode_steps
    resumed = f" (resuming: {len(chunks) - len(todo)}/{len(chunks)} chunks done)" if done else ""
    desc = f"generating {dataset}{resumed}"
    with tqdm(
        total=total, initial=done, desc=desc, unit="step", unit_scale=True, disable=not progress
    ) as bar:
        _run_chunks(dataset, seed, parts, todo, workers, bar, experts)
    return _assemble(dataset, directory, parts, chunks, recipe, seed, episodes, val_episodes, **made)


def _already_made(dataset: str, directory: Path, settings: dict) -> bool:
    """Whether crl's manifest records the dataset as made with `settings`, and its files are still those."""
    manifest = _read_manifest(directory, dataset)
    recorded = manifest.get("sha256", {})
    same = all(manifest.get(k) == json.loads(json.dumps(v)) for k, v in settings.items())  # as JSON holds it
    paths = dataset_paths(dataset, directory)
    return same and all(p.exists() and recorded.get(p.name) == sha256(p) for p in paths)


def _fingerprint(experts: dict[str, Path]) -> str:
    records = {name: expert_record(d) for name, d in experts.items()}
    return hashlib.sha256(json.dumps(records, sort_keys=True).encode()).hexdigest()[:12]


def _run_chunks(
    dataset: str, seed: int, parts: Path, todo: list, workers: int, bar: tqdm, experts: dict
) -> None:
    jobs = [(dataset, seed, split, start, count, _part_path(parts, split, start), experts)
            for split, start, count in todo]  # fmt: skip
    run_jobs(generate_chunk, jobs, workers, bar)


def run_jobs(function, jobs: list[tuple], workers: int, bar: tqdm) -> None:
    """function(*job) for every job, in `workers` processes; each returns how far to move the bar."""
    if workers == 1:
        for job in jobs:
            bar.update(function(*job))
        return
    # Spawned workers: the parent may hold JAX or MuJoCo state that must not be forked.
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        for future in as_completed([pool.submit(function, *job) for job in jobs]):
            bar.update(future.result())


def _assemble(
    dataset, directory, parts, chunks, recipe, seed, episodes, val_episodes, **made
) -> tuple[Path, Path]:
    train_path, val_path = dataset_paths(dataset, directory)
    tasks: dict[int, list[int]] = {0: [], 1: []}
    for split, path in ((0, train_path), (1, val_path)):
        loaded = []
        for chunk_split, start, _ in chunks:
            if chunk_split == split:
                with np.load(_part_path(parts, split, start)) as part:
                    loaded.append({k: part[k] for k in part.files})
        tasks[split] = [int(t) for part in loaded for t in part.pop("oracle_tasks")]
        write_npz_atomic(path, {k: np.concatenate([p[k] for p in loaded]) for k in loaded[0]})
    oracle = {}
    if recipe.kind != "explore":  # explore episodes follow random directions: no goal to reach
        oracle = dict(
            oracle_tasks_per_episode=float(np.mean(tasks[0])),
            oracle_success_rate=float(np.mean(np.asarray(tasks[0]) > 0)),
        )
    _write_manifest(
        directory,
        dataset,
        recipe=dict(vars(recipe)),
        seed=seed,
        episodes=episodes,
        val_episodes=val_episodes,
        **oracle,
        **made,
    )
    shutil.rmtree(parts.parent, ignore_errors=True)
    return train_path, val_path


def _write_manifest(directory: Path, dataset: str, **fields) -> None:
    """What made the dataset, and its files' checksums (how crl knows them as its own), beside them."""
    paths = dataset_paths(dataset, directory)
    manifest = dict(dataset=dataset, generator=f"crl {__version__}", **fields)
    manifest["sha256"] = {p.name: sha256(p) for p in paths}
    tmp = manifest_path(directory, dataset).with_suffix(".tmp")
    tmp.write_text(json.dumps(manifest, indent=2) + "\n")
    tmp.replace(manifest_path(directory, dataset))


def _render_pixels(
    dataset: str, directory: Path, episodes: int | None, seed: int, workers: int, progress: bool, experts
) -> tuple[Path, Path]:
    """The pixel dataset: the state dataset's trajectories (generated first if missing) rendered in chunks
    of whole episodes, in parallel and resumably, as OGBench's visual environment draws them."""
    source = visual.state_dataset(dataset)
    source_paths = dataset_paths(source, directory)
    if all(p.exists() for p in source_paths):
        _check_source(source, directory, episodes, seed)
    else:
        print(f"{dataset} holds the trajectories of {source}: generating {source} first")
        generate(source, directory, episodes, seed, workers, progress, experts=experts)
    checksums = {p.name: sha256(p) for p in source_paths}
    parts = directory / f".{dataset}.parts" / checksums[source_paths[0].name][:16]
    parts.mkdir(parents=True, exist_ok=True)
    sources = [read_npz(p) for p in source_paths]
    chunks = [(split, start, end) for split, arrays in enumerate(sources)
              for start, end in visual.frame_chunks(arrays["terminals"], RENDER_CHUNK_FRAMES)]  # fmt: skip

    def part(split: int, start: int) -> Path:
        return parts / f"split{split}-row{start:09d}.npy"

    todo = [(s, a, b) for s, a, b in chunks if not part(s, a).exists()]
    keys = (*visual.STATE_KEYS, "terminals")
    jobs = [(dataset, {k: sources[s][k][a:b] for k in keys if k in sources[s]}, part(s, a), workers > 1)
            for s, a, b in todo]  # fmt: skip
    total = sum(len(a["terminals"]) for a in sources)
    done = total - sum(b - a for _, a, b in todo)
    resumed = f" (resuming: {len(chunks) - len(todo)}/{len(chunks)} chunks done)" if done else ""
    with tqdm(total=total, initial=done, desc=f"rendering {dataset}{resumed}", unit="frame",
              unit_scale=True, disable=not progress) as bar:  # fmt: skip
        run_jobs(visual.render_chunk, jobs, workers, bar)
    for split, (arrays, path) in enumerate(zip(sources, dataset_paths(dataset, directory), strict=True)):
        frames = (np.load(part(s, a), mmap_mode="r") for s, a, _ in chunks if s == split)
        columns = {"observations": ((len(arrays["terminals"]), *visual.FRAME_SHAPE), np.uint8, frames)}
        columns |= {k: (v.shape, v.dtype, [v]) for k, v in arrays.items() if k != "observations"}
        write_npz_pieces(path, columns)
    source_manifest = _read_manifest(directory, source)
    _write_manifest(
        directory,
        dataset,
        source=dict(dataset=source, sha256=checksums),
        renderer=visual.renderer_versions(),
        **{k: v for k, v in source_manifest.items() if k in ("seed", "episodes", "oracle_success_rate")},
    )
    shutil.rmtree(parts.parent, ignore_errors=True)
    return dataset_paths(dataset, directory)


def _read_manifest(directory: Path, dataset: str) -> dict:
    try:
        manifest = json.loads(manifest_path(directory, dataset).read_text())
    except (OSError, ValueError):
        return {}
    return manifest if isinstance(manifest, dict) else {}


def _check_source(source: str, directory: Path, episodes: int | None, seed: int) -> None:
    """Refuse --episodes or --seed that the state dataset already there was not made with."""
    made = _read_manifest(directory, source)
    wanted = {"episodes": episodes, "seed": seed if seed != 0 else None}
    differ = {k: v for k, v in wanted.items() if v is not None and made.get(k) != v}
    if differ:
        asked = ", ".join(f"--{k} {v}" for k, v in differ.items())
        raise CrlError(
            f"the pixel dataset renders {source}, which is already in {directory} but was not made with "
            f"{asked}: drop {asked}, or move {source}'s files out to generate it again"
        )
