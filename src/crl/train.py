"""The training loop: compiled chunks of updates, logging, checkpoints, resume and evaluation."""

from __future__ import annotations

import dataclasses
import json
import math
import platform
import time
from collections.abc import Callable
from contextlib import nullcontext
from functools import partial
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from tqdm import tqdm

from crl import __version__, online
from crl.agents import agent_module, sample_and_update
from crl.checkpoint import Checkpoints
from crl.config import AgentConfig, TrainConfig, agent_name, from_dict, to_dict
from crl.data import store
from crl.data.memory import check_fits
from crl.data.names import data_dir, env_name
from crl.data.sampling import DeviceData, to_device
from crl.errors import CrlError, EnvironmentFailure
from crl.evaluation import EvalResult, evaluate_seeds
from crl.locks import run_lock
from crl.logs import RunLog, read_jsonl


@partial(jax.jit, static_argnames=("config", "length"))
def run_chunk(states, data: DeviceData, config: AgentConfig, length: int) -> tuple:
    """`length` updates of every seed in one compiled program. States are stacked on a leading seed
    axis (vmap); returns the new states and per-seed chunk-averaged training metrics."""

    def one_seed(state):
        state, infos = jax.lax.scan(
            lambda s, _: sample_and_update(s, data, config), state, None, length=length
        )
        return state, jax.tree.map(lambda x: x.mean(), infos)

    with matmul_precision(config):
        return per_seed(one_seed, states)


@partial(jax.jit, static_argnames=("config",))
def validate(states, val_data: DeviceData, config: AgentConfig) -> dict:
    """Per-seed held-out critic metrics ('val/...'), once per logged chunk. A program of its own, so
    that the logged updates/s and the benchmarks time the updates alone."""

    def one_seed(state):
        # A fold of the state's key: validation draws do not shift the training stream.
        return agent.validation_metrics(state, val_data, config, jax.random.fold_in(state.rng, 1))

    agent = agent_module(config)
    with matmul_precision(config):
        return per_seed(one_seed, states)


def matmul_precision(config: AgentConfig):
    """Traced under this context: exact float32 matmuls on any device when the config asks for them."""
    return jax.default_matmul_precision("float32") if config.precision == "float32" else nullcontext()


def per_seed(fn, *stacked):
    """fn over each seed of trees stacked on a leading seed axis (vmap, or a plain call for one seed)."""
    if jax.tree.leaves(stacked)[0].shape[0] == 1:  # one seed: skip vmap, whose batch-of-1 matmuls are slower
        return jax.tree.map(lambda x: x[None], fn(*(unstack(tree, 0) for tree in stacked)))
    return jax.vmap(fn)(*stacked)


def initial_states(
    config: AgentConfig,
    seeds,
    obs_dim: int | tuple[int, ...],
    action_dim: int,
    goal_dim: int | tuple[int, ...] | None = None,
):
    """Fresh train states of `seeds`, stacked on a leading seed axis (the layout run_chunk takes). Built by
    one compiled program: op by op, a CNN's first forward pass compiles each of its ops (~10 s)."""
    init = jax.jit(agent_module(config).init, static_argnums=(1, 2, 3, 4))
    return stack([init(jax.random.PRNGKey(seed), config, obs_dim, action_dim, goal_dim) for seed in seeds])


def abstract(build: Callable[[], Any]):
    """The shapes and dtypes of what `build()` returns, placed on the default device, without making it:
    a template for restoring a checkpoint that holds a large replay."""
    device = jax.sharding.SingleDeviceSharding(jax.devices()[0])
    return jax.tree.map(
        lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=device), jax.eval_shape(build)
    )


def stack(states: list):
    return jax.tree.map(lambda *xs: jnp.stack(xs), *states)


def unstack(states, i: int):
    return jax.tree.map(lambda x: x[i], states)


PROGRESS_KEYS = ("critic/loss", "val/categorical_accuracy", "actor/loss", "online/success")


def default_run_dir(config: TrainConfig) -> Path:
    source = config.env if config.online else config.dataset
    return Path("runs") / source / f"{agent_name(config.agent)}-{config.preset}-s{config.seed}"


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"crl": __version__, "python": platform.python_version()}
    for package in ("jax", "flax", "optax", "ogbench", "mujoco", "gymnasium"):
        try:
            out[package] = version(package)
        except PackageNotFoundError:
            out[package] = "not installed"
    out["backend"] = jax.default_backend()
    return out


def write_config(run_dir: Path, config: TrainConfig) -> None:
    record = {"config": to_dict(config), "versions": versions()}
    tmp = run_dir / "config.json.tmp"
    tmp.write_text(json.dumps(record, indent=2) + "\n")
    tmp.replace(run_dir / "config.json")


def read_config(run_dir: Path) -> TrainConfig:
    path = run_dir / "config.json"
    if not path.exists():
        raise CrlError(f"{run_dir} holds no config.json: it is not a crl run directory")
    try:
        return from_dict(json.loads(path.read_text())["config"])
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise CrlError(f"{path} is unreadable ({exc}); it was not written by this version of crl") from None


def boundaries(start: int, config: TrainConfig) -> list[int]:
    """Steps after `start` where a chunk ends: every log, checkpoint and evaluation point, and the end."""
    marks = {config.steps}
    for every in (config.log_every, config.checkpoint_every, config.eval_every):
        if every > 0:
            marks.update(range(every, config.steps, every))
    if config.online and 0 < config.random_steps < config.steps:
        marks.add(config.random_steps)  # learning starts here: a chunk of its own kind
    return sorted(m for m in marks if m > start)


def check_finite(metrics: dict[str, float], step: int, last_checkpoint: int | None) -> None:
    bad = [k for k, v in metrics.items() if not math.isfinite(v)]
    if bad:
        since = (
            f"the last good checkpoint is step {last_checkpoint}" if last_checkpoint else "no checkpoint yet"
        )
        raise CrlError(
            f"training diverged by step {step}: {bad[0]} is {metrics[bad[0]]} ({since}); "
            "lower --agent.lr or check the data with `crl data verify`"
        )


def policy_for(states, config: AgentConfig, action_dim: int, n_seeds: int):
    """One batched call for all seeds: rows are seed-major, as `evaluate_seeds` orders them."""
    act = jax.jit(jax.vmap(partial(agent_module(config).act, config, action_dim)))

    def policy(obs: np.ndarray, goals: np.ndarray) -> np.ndarray:
        split = (n_seeds, len(obs) // n_seeds)
        actions = act(states, obs.reshape(*split, *obs.shape[1:]), goals.reshape(*split, *goals.shape[1:]))
        return np.asarray(actions).reshape(len(obs), -1)

    return policy


def run_evaluation(
    logs: list[RunLog], step: int, env_id: str, carry, seeds: list[int], config: TrainConfig,
    agent_config: AgentConfig, action_dim: int,
) -> list[EvalResult]:  # fmt: skip
    """Evaluate every seed's policy (`carry`: the stacked states) in the OGBench environment and log it."""
    policy = policy_for(carry, agent_config, action_dim, len(seeds))
    results = evaluate_seeds(env_id, policy, config.eval_episodes, seeds, config.progress)
    for log, result in zip(logs, results, strict=True):
        log.evaluation(step, result.as_dict())
    return results


def format_table(result: EvalResult) -> str:
    width = max(len(t) for t in result.task_success)
    lines = [f"{'task'.ljust(width)}  success  ({result.episodes_per_task} episodes each)"]
    lines += [f"{task.ljust(width)}  {rate:7.1%}" for task, rate in result.task_success.items()]
    lines.append(f"{'overall'.ljust(width)}  {result.overall:7.1%}")
    lines += [f"{name}: {value:.4g}" for name, value in result.measures.items()]
    return "\n".join(lines)


def seed_runs(run_dir: Path, config: TrainConfig) -> list[tuple[int, Path]]:
    """(seed, directory) of each seed: the run directory itself for one seed, else RUN_DIR/seedS."""
    if config.seeds == 1:
        return [(config.seed, run_dir)]
    return [(config.seed + i, run_dir / f"seed{config.seed + i}") for i in range(config.seeds)]


def seed_config(config: TrainConfig, seed: int, directory: Path) -> TrainConfig:
    """The config of one seed's directory (what its config.json records)."""
    return dataclasses.replace(config, seed=seed, seeds=1, run_dir=directory)


def run_log(config: TrainConfig, seed: int, directory: Path, resume_from: int | None = None) -> RunLog:
    wandb_config = to_dict(seed_config(config, seed, directory)) if config.wandb else None
    return RunLog(directory, resume_from, wandb_config)


def _has_checkpoints(run_dir: Path) -> bool:
    return (run_dir / "checkpoints").exists() and any((run_dir / "checkpoints").iterdir())


def prepare_run_dir(config: TrainConfig) -> Path:
    run_dir = config.run_dir or default_run_dir(config)
    blocking = next((p for p in (run_dir, *run_dir.parents) if p.exists() and not p.is_dir()), None)
    if blocking is not None:
        raise CrlError(f"--run-dir {run_dir} cannot be made: {blocking} is a file; pick another --run-dir")
    if any(_has_checkpoints(d) for _, d in seed_runs(run_dir, config)) and not config.resume:
        raise CrlError(
            f"{run_dir} already holds a run: add --resume to continue it, or pick another --run-dir"
        )
    for _, directory in seed_runs(run_dir, config):
        directory.mkdir(parents=True, exist_ok=True)
    return run_dir


UNVERIFIED = "unreadable, and saved without checksums"


def _save_seeds(checkpoints: list[Checkpoints], step: int, carry):
    """Save each seed's part of `carry` at `step`; returns the carry. Orbax writes JAX arrays without a
    copy, so one seed's arrays lose their seed axis in place (donated, as XLA allows) for the save and get
    it back after; with more seeds, one seed's copy exists at a time. A large replay is never held twice."""
    if len(checkpoints) > 1:
        for i, c in enumerate(checkpoints):
            c.save(step, unstack(carry, i))
        return carry
    one = jax.jit(partial(jax.tree.map, lambda x: x[0]), donate_argnums=0)(carry)
    checkpoints[0].save(step, one)
    return _add_seed_axis(one)


def _add_seed_axis(tree):
    """`tree` with a leading seed axis of 1; its arrays are donated, and XLA reshapes them without a copy."""
    return jax.jit(partial(jax.tree.map, lambda x: x[None]), donate_argnums=0)(tree)


def _restore_stacked(checkpoints: list[Checkpoints], template, step: int, agent_only: bool = False):
    """Every seed's checkpoint `step`, stacked on a leading seed axis. Each seed is restored and placed in
    turn (donated), so a large carry (an image replay) is held about once, not twice; with `agent_only`
    (an online carry), the agent states alone, as (states, None)."""
    if agent_only:
        agents = [c.restore(template, step, agent_only=True)[0] for c in checkpoints]
        return stack(agents), None
    if len(checkpoints) == 1:
        return _add_seed_axis(checkpoints[0].restore(template, step))
    n = len(checkpoints)
    stacked = jax.jit(lambda: jax.tree.map(lambda x: jnp.zeros((n, *x.shape), x.dtype), template))()
    place = jax.jit(lambda s, one, i: jax.tree.map(lambda a, b: a.at[i].set(b), s, one), donate_argnums=0)
    for i, c in enumerate(checkpoints):
        stacked = place(stacked, c.restore(template, step), i)
    return stacked


def _restore(checkpoints: list[Checkpoints], template, run_dir: Path, agent_only: bool = False):
    """The newest checkpoint that every seed has complete, stacked (with `agent_only`, an online run's
    agent states alone); (None, 0) when there is none. A newer one that is damaged is set aside, with one
    line saying so."""
    common = sorted(set.intersection(*(set(c.all_steps()) for c in checkpoints)), reverse=True)
    damaged: list[tuple[int, str]] = []
    unreadable: CrlError | None = None  # the first restore error of a checkpoint saved without checksums
    for step in common:
        reason = next((r for c in checkpoints if (r := c.damage(step))), None)
        if reason is None:
            try:
                carry = _restore_stacked(checkpoints, template, step, agent_only)
            except CrlError as exc:
                if all(c.has_checksums(step) for c in checkpoints):
                    raise  # its files are as saved: it is the config that does not fit
                unreadable, reason = unreadable or exc, UNVERIFIED
            else:
                for bad, why in damaged:
                    moved = [c.set_aside(bad) for c in checkpoints]
                    print(f"checkpoint {bad} in {run_dir} is damaged ({why}); moved to {moved[0].parent}, "
                          f"resuming from checkpoint {step}, the newest complete one")  # fmt: skip
                return carry, step
        damaged.append((step, reason))
    if unreadable is not None and all(why == UNVERIFIED for _, why in damaged):
        raise unreadable  # no checksum found damage: more likely a config that does not fit
    if damaged:
        step, why = damaged[0]
        raise CrlError(
            f"checkpoint {step} in {run_dir} is damaged ({why}) and no older checkpoint is complete; "
            "train again without --resume in another --run-dir"
        )
    return None, 0


@dataclasses.dataclass
class Job:
    """What the chunk loop needs of a data source: the carry (stacked over seeds) it advances and
    checkpoints, how to advance it from one step to another, and how to evaluate it."""

    initial: Callable[[], Any]  # fresh carry of every seed
    template: Callable[[], Any]  # one seed's carry, the layout checkpoints restore into (built on demand)
    advance: Callable[[Any, int, int], tuple[Any, dict]]  # (carry, step, end) -> (carry, per-seed metrics)
    evaluate: Callable[..., list[EvalResult]]  # (step=, carry=) -> each seed's result, logged
    unit: str  # what a step is, for the progress bar


def offline_job(config: TrainConfig, seeds: list[int], logs: list[RunLog]) -> Job:
    data = store.load(config.dataset, data_dir(config.data_dir), config.progress)
    agent_config = config.agent.for_run(config.steps)
    with_next = agent_config.needs_next_observations
    on_device = ("observations", "actions", "terminals", *(("next_observations",) if with_next else ()))
    check_fits(
        sum(split[k].nbytes for split in (data.train, data.val) for k in on_device),
        f"dataset {config.dataset}",
        "train where the device has more memory (a GPU), or on a smaller dataset",
    )
    train_data, val_data = to_device(data.train, with_next), to_device(data.val, with_next)

    def advance(states, step: int, end: int):
        tic = time.perf_counter()
        states, metrics = run_chunk(states, train_data, agent_config, end - step)
        metrics = jax.device_get(metrics)
        rate = (end - step) / (time.perf_counter() - tic)
        metrics |= jax.device_get(validate(states, val_data, agent_config))
        return states, metrics | {"updates_per_s": np.full(len(seeds), rate)}

    return Job(
        initial=lambda: initial_states(agent_config, seeds, data.obs_shape, data.action_dim),
        template=lambda: unstack(initial_states(agent_config, [0], data.obs_shape, data.action_dim), 0),
        advance=advance,
        evaluate=partial(
            run_evaluation,
            logs,
            env_id=data.env_id,
            seeds=seeds,
            config=config,
            agent_config=agent_config,
            action_dim=data.action_dim,
        ),
        unit="upd",
    )


def train(config: TrainConfig) -> list[EvalResult] | None:
    """Train (or resume) a run of one or more seeds; returns each seed's final evaluation, if any."""
    config.validate()
    run_dir = prepare_run_dir(config)
    with run_lock(run_dir):
        return _train_in(run_dir, config)


def _train_in(run_dir: Path, config: TrainConfig) -> list[EvalResult] | None:
    runs = seed_runs(run_dir, config)
    seeds = [seed for seed, _ in runs]
    if config.seeds > 1:
        write_config(run_dir, config)
    for seed, directory in runs:
        write_config(directory, seed_config(config, seed, directory))
    checkpoints = [Checkpoints(directory / "checkpoints") for _, directory in runs]
    logs: list[RunLog] = []
    try:
        job = online.online_job(config, seeds, logs) if config.online else offline_job(config, seeds, logs)
        carry, start = (None, 0)
        if config.resume:
            carry, start = _restore(checkpoints, job.template(), run_dir)
        if carry is None:
            if config.resume:  # sweeps resume every run, started or not
                print(f"no checkpoint in {run_dir}: starting a new run")
            carry = _transferred(config, job.initial()) if config.init_from else job.initial()
        else:
            print(f"resuming {run_dir} from step {start}")
        logs += [
            run_log(config, seed, directory, start if config.resume else None) for seed, directory in runs
        ]
        if config.resume and _evaluation_missing(runs, start, config):  # killed while evaluating
            job.evaluate(step=start, carry=carry)
        carry = _train_chunks(config, job, carry, start, checkpoints, logs)
        if not config.eval_episodes:
            return None
        finished = [logged_evaluation(directory, config.steps) for _, directory in runs]
        if start == config.steps and all(finished):
            return finished
        return job.evaluate(step=config.steps, carry=carry)
    finally:
        for log in logs:
            log.close()
        for c in checkpoints:
            c.close()


def _transferred(config: TrainConfig, carry):
    """A fresh carry whose critic starts from `config.init_from`'s (`crl.transfer`)."""
    from crl.transfer import init_from

    if config.online:
        return (init_from(config.init_from, carry[0], config.agent), *carry[1:])
    return init_from(config.init_from, carry, config.agent)


def checkpoint_template(config: TrainConfig, seed: int = 0):
    """One seed's carry as its checkpoints hold it (shapes and dtypes; nothing is loaded)."""
    if config.online:
        return online.online_job(config, [seed], []).template()
    obs_shape, action_dim = store.env_spaces(env_name(config.dataset))
    return unstack(initial_states(config.agent.for_run(config.steps), [0], obs_shape, action_dim), 0)


def latest_agent(run_dir: Path) -> tuple[TrainConfig, Any]:
    """A run's config and seed 0's agent train state at its latest checkpoint."""
    if not (Path(run_dir) / "config.json").exists():
        raise CrlError(f"{run_dir} is not a run directory (no config.json); give one `crl train` wrote")
    config = read_config(run_dir)
    seed, directory = seed_runs(Path(run_dir), config)[0]
    checkpoints = Checkpoints(directory / "checkpoints")
    carry = checkpoints.restore(checkpoint_template(config, seed), agent_only=config.online)  # not the replay
    return config, carry[0] if config.online else carry


def _evaluation_missing(runs: list[tuple[int, Path]], step: int, config: TrainConfig) -> bool:
    due = (
        config.eval_episodes
        and config.eval_every
        and 0 < step < config.steps
        and step % config.eval_every == 0
    )
    return bool(due) and any(logged_evaluation(directory, step) is None for _, directory in runs)


def logged_evaluation(directory: Path, steps: int) -> EvalResult | None:
    """The evaluation at update `steps` recorded in the run directory's eval.jsonl, if there is one."""
    done = [r for r in read_jsonl(directory / "eval.jsonl") if r["step"] == steps]
    return EvalResult(done[-1]["tasks"], done[-1]["episodes_per_task"]) if done else None


def _train_chunks(config: TrainConfig, job: Job, carry, start: int, checkpoints, logs):
    """The chunk loop: advance, log, checkpoint and evaluate at their steps; returns the final carry."""
    last_checkpoint = start or None
    bar = tqdm(total=config.steps, initial=start, desc="training", unit=job.unit, disable=not config.progress)
    with bar:
        step = start
        for end in boundaries(start, config):
            try:
                carry, metrics = job.advance(carry, step, end)
            except EnvironmentFailure as exc:
                where = (
                    f"the last good checkpoint is step {last_checkpoint}: add --resume to continue from it"
                    if last_checkpoint
                    else "no checkpoint was saved yet"
                )
                raise CrlError(f"{exc} between steps {step} and {end}; {where}") from None
            per_seed = [{k: float(v[i]) for k, v in metrics.items()} for i in range(len(logs))]
            for seed_metrics in per_seed:
                check_finite(seed_metrics, end, last_checkpoint)
            for log, seed_metrics in zip(logs, per_seed, strict=True):
                log.metrics(end, seed_metrics)
            bar.update(end - step)
            shown = {
                k.split("/")[-1]: f"{np.mean([m[k] for m in per_seed]):.3f}"
                for k in PROGRESS_KEYS
                if k in metrics
            }
            bar.set_postfix(shown)
            step = end
            if end % config.checkpoint_every == 0 or end == config.steps:
                carry = _save_seeds(checkpoints, end, carry)
                last_checkpoint = end
            if (
                config.eval_episodes
                and config.eval_every
                and end % config.eval_every == 0
                and end < config.steps
            ):
                results = job.evaluate(step=end, carry=carry)
                overall = ", ".join(f"{r.overall:.1%}" for r in results)
                bar.write(f"step {end}: overall success {overall}")
    return carry


def evaluate_run(
    run_dir: Path, episodes: int | None = None, progress: bool = True, video: bool = False
) -> tuple[list[EvalResult], list[Path]]:
    """Evaluate the latest checkpoint of a run directory (every seed of a multi-seed run, together);
    appends each result to its seed's eval.jsonl. With `video`, also writes each seed's first episode of
    every evaluation task as a video (`crl.video`): (results, video paths)."""
    config = dataclasses.replace(read_config(run_dir), progress=progress)
    if episodes is not None:
        config = dataclasses.replace(config, eval_episodes=episodes)
    if config.eval_episodes < 1:
        raise CrlError(f"--eval-episodes must be at least 1, got {config.eval_episodes}")
    runs = seed_runs(run_dir, config)
    seeds = [seed for seed, _ in runs]
    checkpoints = [Checkpoints(directory / "checkpoints") for _, directory in runs]
    logs = [run_log(config, seed, directory) for seed, directory in runs]
    try:
        if config.online:
            job = online.online_job(config, seeds, logs)
            template, evaluate = job.template(), job.evaluate
        else:
            env_id = env_name(config.dataset)
            _, action_dim = store.env_spaces(env_id)
            agent_config = config.agent.for_run(config.steps)
            template = checkpoint_template(config)
            evaluate = partial(run_evaluation, logs, env_id=env_id, seeds=seeds, config=config,
                               agent_config=agent_config, action_dim=action_dim)  # fmt: skip
        carry, step = _restore(checkpoints, template, run_dir, agent_only=config.online)  # not the replays
        if carry is None:
            raise CrlError(f"no checkpoint in {run_dir}; train first or check the directory")
        results = evaluate(step=step, carry=carry)
        if not video:
            return results, []
        from crl.video import record_run

        videos = record_run(config, carry, step, runs, progress)
        for log in logs:
            for path in videos:
                if path.parent.parent == log.run_dir:
                    log.video(step, path)
        return results, videos
    finally:
        for log in logs:
            log.close()
        for c in checkpoints:
            c.close()
