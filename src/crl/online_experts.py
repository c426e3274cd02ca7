"""Training OGBench's locomotion experts (`crl expert train`): SAC on the environment's reward, with the
copies on the host and the updates compiled, as the robot tasks' rounds (`crl.online_host`).

A round steps every copy `collect / num_envs` steps (one episode length) and then takes `collect x
update_ratio` updates, dispatched before the copies step so that both run at once. A copy starts a fresh
episode at the round's start and after every termination (a fallen ant), named by (run seed, round, copy,
episodes begun in the round); an episode still running at the round's end is cut there like a time limit
(its last transition bootstraps, except where antball reaches its own 200-step limit, which OGBench's run
treats as terminal). No episode spans two rounds, so (agent states, collectors) is the whole state of a
run at a round's end, and a resumed run continues bit for bit.

Evaluation runs whole episodes of the deterministic policy: the mean return (what OGBench logs for its
experts), the fraction of episodes the robot stays up to the end, the speed along the commanded direction
(direction tasks) and, for antball, the final step's success (ball at the goal).
"""

from __future__ import annotations

import time
from functools import partial
from typing import TYPE_CHECKING

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

from crl.config import AgentConfig, TrainConfig
from crl.data.transitions import Transitions, empty_transitions, insert
from crl.envs.locomotion import LocomotionTask
from crl.evaluation import EvalResult
from crl.online import check_replay_fits, fresh_collectors, rate_counts
from crl.online_host import acting_device, choose_actions, play_rounds

if TYPE_CHECKING:
    from crl.train import Job

EVAL_SEED = 0xE7A1


class ExpertCollector(flax.struct.PyTreeNode):
    replay: Transitions
    rng: jax.Array
    env_steps: jax.Array  # int32: transitions collected so far, over all copies
    episodes: jax.Array  # int32: episodes ended so far (terminated, or cut at a round's end)
    falls: jax.Array  # int32: of those, the ones that terminated


def init_collector(task: LocomotionTask, config: TrainConfig, seed: int) -> ExpertCollector:
    zero = jnp.zeros((), jnp.int32)
    replay = empty_transitions(config.replay_size, task.obs_dim, task.action_dim)
    return ExpertCollector(replay, jax.random.fold_in(jax.random.PRNGKey(seed), 0xE7), zero, zero, zero)


@partial(jax.jit, donate_argnums=0)  # the replays are updated in place: one copy of them, not two
def store_round(collectors: ExpertCollector, batch: dict, ended, fell) -> ExpertCollector:
    def one_seed(c: ExpertCollector, batch, ended, fell):
        n = batch["rewards"].shape[0]
        return c.replace(
            replay=insert(c.replay, batch, jnp.int32(n)),
            env_steps=c.env_steps + n,
            episodes=c.episodes + ended,
            falls=c.falls + fell,
        )

    return jax.vmap(one_seed)(collectors, batch, ended, fell)


class ExpertRounds:
    """The host side of an expert run: every seed's copies, and how a round is collected."""

    def __init__(
        self, task: LocomotionTask, config: TrainConfig, agent_config: AgentConfig, seeds: list[int]
    ):
        self.task, self.agent_config, self.seeds = task, agent_config, seeds
        self.num_envs, self.length = config.num_envs, config.collect // config.num_envs
        self.envs = [task.make(seeds[0] + i) for i in range(len(seeds) * config.num_envs)]

    def collect(self, acting_states, keys: jax.Array, round_index: int, learned: bool):
        """(transitions shaped (seeds, copies x steps, ...), episodes ended per seed, falls per seed)."""
        task, n_seeds, n = self.task, len(self.seeds), self.num_envs
        copies = len(self.envs)
        begun = np.zeros(copies, int)

        def start(i: int):
            name = (self.seeds[i // n], round_index, i % n, begun[i])
            begun[i] += 1
            return task.reset(self.envs[i], name)

        started = [start(i) for i in range(copies)]
        obs = np.stack([o for o, _ in started])
        streams, steps = [s for _, s in started], np.zeros(copies, int)
        rows = {
            k: np.zeros((copies, self.length, *shape), np.float32)
            for k, shape in (
                ("observations", (task.obs_dim,)),
                ("actions", (task.action_dim,)),
                ("rewards", ()),
                ("masks", ()),
                ("next_observations", (task.obs_dim,)),
            )
        }
        fell = np.zeros(copies, int)
        device = acting_device()
        keys = jax.device_put(keys, device)
        no_goals = jnp.zeros((n_seeds, n, 0))
        for t in range(self.length):
            chosen = choose_actions(
                acting_states,
                jax.device_put(obs.reshape(n_seeds, n, -1), device),
                no_goals,
                keys,
                t,
                self.agent_config,
                task.action_dim,
                learned,
            )
            actions = np.asarray(chosen).reshape(copies, -1)
            for i in range(copies):
                next_obs, reward, terminated, _ = task.step(self.envs[i], actions[i], streams[i], steps[i])
                steps[i] += 1
                at_limit = task.terminal_at_limit and steps[i] == task.episode_length
                for key, value in (
                    ("observations", obs[i]),
                    ("actions", actions[i]),
                    ("rewards", reward),
                    ("masks", 0.0 if terminated or at_limit else 1.0),
                    ("next_observations", next_obs),
                ):
                    rows[key][i, t] = value
                if terminated:
                    fell[i] += 1
                    next_obs, streams[i] = start(i)
                    steps[i] = 0
                obs[i] = next_obs
        by_seed = {k: v.reshape(n_seeds, n * self.length, *v.shape[2:]) for k, v in rows.items()}
        return by_seed, begun.reshape(n_seeds, n).sum(1), fell.reshape(n_seeds, n).sum(1)


def evaluate_expert(task: LocomotionTask, states, agent_config: AgentConfig, episodes: int, envs: list):
    """Each seed's mean return, stay-up rate, speed along the command and (antball) final success over
    `episodes` deterministic episodes; `envs` holds the same number of copies for every seed."""
    from crl.train import policy_for

    n_seeds = jax.tree.leaves(states)[0].shape[0]
    copies = len(envs) // n_seeds
    policy = policy_for(states, agent_config, task.action_dim, n_seeds)
    totals = {k: np.zeros(n_seeds) for k in ("return", "stayed_up", "speed", "success")}
    for first in range(0, episodes, copies):
        started = [task.reset(env, (EVAL_SEED, first + i % copies)) for i, env in enumerate(envs)]
        obs = np.stack([o for o, _ in started])
        running, returns, speeds = np.ones(len(envs), bool), np.zeros(len(envs)), np.zeros(len(envs))
        success = np.zeros(len(envs))
        for t in range(task.episode_length):
            actions = policy(obs, np.zeros((len(envs), 0), np.float32))
            for i in np.flatnonzero(running):
                xy = np.array(envs[i].unwrapped.data.qpos[:2])
                obs[i], reward, terminated, info = task.step(envs[i], actions[i], started[i][1], t)
                returns[i] += reward
                if task.resample is not None:
                    speeds[i] += task.speed(info, xy)
                success[i] = info.get("success", 0.0)
                running[i] = not terminated
        counted = min(copies, episodes - first)
        per_seed = {
            "return": returns,
            "stayed_up": running,
            "speed": speeds / task.episode_length,
            "success": success,
        }
        for k, v in per_seed.items():
            totals[k] += np.asarray(v, float).reshape(n_seeds, copies)[:, :counted].sum(1)
    return {k: v / episodes for k, v in totals.items()}


def expert_job(config: TrainConfig, task: LocomotionTask, seeds: list[int], logs: list) -> Job:
    """The chunk loop's view of an expert run: its carry is (agent states, collectors), stacked on seeds."""
    from crl.train import Job, abstract, initial_states, unstack

    agent_config = config.agent.for_run(config.steps)
    updates = round(config.collect * config.update_ratio)
    lazy: dict[str, object] = {}  # simulators, made on first use (evaluating a run needs no training copies)

    def fresh(seed_list):
        check_replay_fits(lambda: init_collector(task, config, 0), config, len(seed_list))
        states = initial_states(agent_config, seed_list, task.obs_shape, task.action_dim)
        return states, fresh_collectors(lambda seed: init_collector(task, config, seed), seed_list)

    def advance(carry, step: int, end: int):
        if "rounds" not in lazy:
            lazy["rounds"] = ExpertRounds(task, config, agent_config, seeds)
        rounds = lazy["rounds"]
        states, collectors = carry
        learn = step >= config.random_steps
        tic = time.perf_counter()
        episodes, falls = np.asarray(collectors.episodes), np.asarray(collectors.falls)

        def collect(acting, keys, c):
            round_index = int(np.asarray(c.env_steps)[0]) // config.collect  # the same for every seed
            return store_round(c, *rounds.collect(acting, keys, round_index, learn))

        states, collectors, metrics = play_rounds(
            states, collectors, (end - step) // config.collect, learn, agent_config, updates, collect
        )
        ended = np.asarray(collectors.episodes - episodes)
        counts = {
            "online/episodes": ended.astype(np.float32),
            "online/falls": np.asarray(collectors.falls - falls) / np.maximum(ended, 1),
            "online/replay_fill": np.asarray(jax.vmap(lambda b: b.filled / b.capacity)(collectors.replay)),
        }
        speed = rate_counts(config, len(seeds), step, end, time.perf_counter() - tic, learn)
        return (states, collectors), metrics | counts | speed

    def evaluate(step: int, carry) -> list[EvalResult]:
        if "eval" not in lazy:
            copies = min(10, config.eval_episodes)
            lazy["eval"] = [task.make(EVAL_SEED + i) for i in range(len(seeds) * copies)]
        measured = evaluate_expert(task, carry[0], agent_config, config.eval_episodes, lazy["eval"])
        rate, others = (
            ("success", ("return", "stayed_up"))
            if task.resample is None
            else ("stayed_up", ("return", "speed"))
        )
        results = []
        for i, log in enumerate(logs):
            measures = {k: float(measured[k][i]) for k in others}
            result = EvalResult(
                {f"{task.name}: {rate}": float(measured[rate][i])}, config.eval_episodes, measures
            )
            log.evaluation(step, result.as_dict())
            results.append(result)
        return results

    return Job(
        initial=lambda: fresh(seeds),
        template=lambda: abstract(lambda: unstack(fresh([0]), 0)),
        advance=advance,
        evaluate=evaluate,
        unit="env step",
    )
