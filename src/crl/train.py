"""The training loop: compiled chunks of updates, logging, checkpoints, resume and evaluation."""

from __future__ import annotations

import dataclasses
import json
import math
import platform
import time
from functools import partial
from pathlib import Path

import jax
import numpy as np
from tqdm import tqdm

from crl import __version__
from crl.agents import agent_module
from crl.checkpoint import Checkpoints
from crl.config import AgentConfig, TrainConfig, agent_name, from_dict, to_dict
from crl.data import store
from crl.data.names import data_dir, env_name
from crl.data.sampling import DeviceData, to_device
from crl.errors import CrlError
from crl.evaluation import EvalResult, evaluate
from crl.logs import RunLog, read_jsonl


@partial(jax.jit, static_argnames=("config", "length"))
def run_chunk(state, data: DeviceData, val_data: DeviceData, config: AgentConfig, length: int) -> tuple:
    """`length` updates in one compiled program; returns the new state and chunk-averaged metrics."""
    agent = agent_module(config)
    state, infos = jax.lax.scan(lambda s, _: agent.update(s, data, config), state, None, length=length)
    metrics = jax.tree.map(lambda x: x.mean(), infos)
    # A fold of the state's key: validation draws do not shift the training stream.
    metrics.update(agent.validation_metrics(state, val_data, config, jax.random.fold_in(state.rng, 1)))
    return state, metrics


PROGRESS_KEYS = ("critic/loss", "val/categorical_accuracy", "actor/loss")


def default_run_dir(config: TrainConfig) -> Path:
    return Path("runs") / config.dataset / f"{agent_name(config.agent)}-{config.preset}-s{config.seed}"


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


def policy_for(state, config: AgentConfig, action_dim: int):
    act = agent_module(config).act
    return lambda obs, goals: act(config, action_dim, state, obs, goals)


def run_evaluation(
    log: RunLog,
    step: int,
    env_id: str,
    state,
    config: TrainConfig,
    agent_config: AgentConfig,
    action_dim: int,
) -> EvalResult:
    policy = policy_for(state, agent_config, action_dim)
    result = evaluate(env_id, policy, config.eval_episodes, config.seed, config.progress)
    log.evaluation(step, result.as_dict())
    return result


def format_table(result: EvalResult) -> str:
    width = max(len(t) for t in result.task_success)
    lines = [f"{'task'.ljust(width)}  success  ({result.episodes_per_task} episodes each)"]
    lines += [f"{task.ljust(width)}  {rate:7.1%}" for task, rate in result.task_success.items()]
    lines.append(f"{'overall'.ljust(width)}  {result.overall:7.1%}")
    return "\n".join(lines)


def prepare_run_dir(config: TrainConfig) -> Path:
    run_dir = config.run_dir or default_run_dir(config)
    has_checkpoints = (run_dir / "checkpoints").exists() and any((run_dir / "checkpoints").iterdir())
    if has_checkpoints and not config.resume:
        raise CrlError(
            f"{run_dir} already holds a run: add --resume to continue it, or pick another --run-dir"
        )
    run_dir.mkdir(parents=True, exist_ok=True)
    return run_dir


def train(config: TrainConfig) -> EvalResult | None:
    """Train (or resume) one run; returns the final evaluation, if evaluation is on."""
    config.validate()
    run_dir = prepare_run_dir(config)
    data = store.load(config.dataset, data_dir(config.data_dir), config.progress)
    write_config(run_dir, config)
    agent_config = config.agent.for_run(config.steps)
    with_next = agent_config.needs_next_observations
    train_data, val_data = to_device(data.train, with_next), to_device(data.val, with_next)
    obs_dim = int(np.prod(data.obs_shape))

    state = agent_module(agent_config).init(
        jax.random.PRNGKey(config.seed), agent_config, obs_dim, data.action_dim
    )
    checkpoints = Checkpoints(run_dir / "checkpoints")
    start = 0
    if config.resume and checkpoints.latest_step() is not None:
        state = checkpoints.restore(state)
        start = int(state.step)
        print(f"resuming {run_dir} from step {start}")
    log = RunLog(run_dir)
    last_checkpoint = start or None
    try:
        with tqdm(
            total=config.steps, initial=start, desc="training", unit="upd", disable=not config.progress
        ) as bar:
            step = start
            for end in boundaries(start, config):
                tic = time.perf_counter()
                state, metrics = run_chunk(state, train_data, val_data, agent_config, end - step)
                metrics = {k: float(v) for k, v in jax.device_get(metrics).items()}
                metrics["updates_per_s"] = (end - step) / (time.perf_counter() - tic)
                check_finite(metrics, end, last_checkpoint)
                log.metrics(end, metrics)
                bar.update(end - step)
                bar.set_postfix(
                    {k.split("/")[-1]: f"{metrics[k]:.3f}" for k in PROGRESS_KEYS if k in metrics}
                )
                step = end
                if end % config.checkpoint_every == 0 or end == config.steps:
                    checkpoints.save(end, state)
                    last_checkpoint = end
                if (
                    config.eval_episodes
                    and config.eval_every
                    and end % config.eval_every == 0
                    and end < config.steps
                ):
                    result = run_evaluation(
                        log, end, data.env_id, state, config, agent_config, data.action_dim
                    )
                    bar.write(f"step {end}: overall success {result.overall:.1%}")
        if not config.eval_episodes:
            return None
        done = [r for r in read_jsonl(run_dir / "eval.jsonl") if r["step"] == config.steps]
        if done and start == config.steps:
            return EvalResult(done[-1]["tasks"], done[-1]["episodes_per_task"])
        return run_evaluation(log, config.steps, data.env_id, state, config, agent_config, data.action_dim)
    finally:
        log.close()
        checkpoints.close()


def evaluate_run(run_dir: Path, episodes: int | None = None, progress: bool = True) -> EvalResult:
    """Evaluate the latest checkpoint of a run directory and append the result to its eval.jsonl."""
    config = dataclasses.replace(read_config(run_dir), progress=progress)
    if episodes is not None:
        config = dataclasses.replace(config, eval_episodes=episodes)
    if config.eval_episodes < 1:
        raise CrlError(f"--eval-episodes must be at least 1, got {config.eval_episodes}")
    env_id = env_name(config.dataset)
    obs_shape, action_dim = store.env_spaces(env_id)
    agent_config = config.agent.for_run(config.steps)
    obs_dim = int(np.prod(obs_shape))
    template = agent_module(agent_config).init(jax.random.PRNGKey(0), agent_config, obs_dim, action_dim)
    checkpoints = Checkpoints(run_dir / "checkpoints")
    log = RunLog(run_dir)
    try:
        state = checkpoints.restore(template)
        return run_evaluation(log, int(state.step), env_id, state, config, agent_config, action_dim)
    finally:
        log.close()
        checkpoints.close()
