"""Online training on a JAX environment: acting, storing, relabelling and learning in one program.

One iteration collects `collect` transitions across `num_envs` environments stepped in lockstep (so
`collect // num_envs` steps each), writes every episode that finished into the replay ring, then takes
`collect * update_ratio` updates, each on a minibatch the agent samples from the replay with the same
samplers as offline (`crl.data.sampling`). `run_online_chunk` scans iterations and vmaps seeds; the
training loop in `crl.train` calls it between its logs, checkpoints and evaluations, exactly as it calls
`run_chunk` offline. Everything that moves (replay, environments, half-finished episodes, keys) lives in
`Collector`, so a checkpoint of (agent state, collector) resumes bit for bit.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, NamedTuple

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

from crl.agents import agent_module, sample_and_update
from crl.config import AgentConfig, TrainConfig
from crl.data.images import is_image, storage_dtype
from crl.data.memory import check_fits, tree_nbytes
from crl.data.replay import Replay, empty_replay, insert
from crl.envs import make_env, on_host
from crl.envs.locomotion import LocomotionTask
from crl.envs.point import PointMaze
from crl.evaluation import EvalResult

if TYPE_CHECKING:
    from crl.train import Job


class Collector(flax.struct.PyTreeNode):
    env_states: object  # the environments' states, batched over num_envs
    episode_observations: jax.Array  # (num_envs, T + 1, *obs_shape): the episodes being collected
    episode_actions: jax.Array  # (num_envs, T + 1, action_dim)
    episode_acted: jax.Array  # (num_envs, T + 1) bool: the policy chose the action (not random)
    replay: Replay
    rng: jax.Array
    env_steps: jax.Array  # int32: transitions collected so far, over all environments
    episodes: jax.Array  # int32: episodes finished so far
    successes: jax.Array  # int32: of those, the ones that reached their goal
    episode_coords: jax.Array | None = None  # (num_envs, T + 1, k): images only, the goal coordinates shown


def init_collector(env: PointMaze, config: TrainConfig, seed: int) -> Collector:
    """Fresh environments and an empty replay for one seed (its key stream is apart from the agent's)."""
    k_reset, rng = jax.random.split(jax.random.fold_in(jax.random.PRNGKey(seed), 0x0E11))
    episode = (config.num_envs, env.episode_length + 1)
    env_states = jax.vmap(env.reset)(jax.random.split(k_reset, config.num_envs))
    coords_dim = env.coords(env_states).shape[-1] if is_image(env.obs_shape) else None
    return Collector(
        env_states=env_states,
        episode_observations=jnp.zeros((*episode, *env.obs_shape), storage_dtype(env.obs_shape)),
        episode_actions=jnp.zeros((*episode, env.action_dim), jnp.float32),
        episode_acted=jnp.zeros(episode, bool),
        replay=empty_replay(
            config.replay_size, env.episode_length, env.obs_shape, env.action_dim, coords_dim=coords_dim
        ),
        rng=rng,
        env_steps=jnp.zeros((), jnp.int32),
        episodes=jnp.zeros((), jnp.int32),
        successes=jnp.zeros((), jnp.int32),
        episode_coords=None if coords_dim is None else jnp.zeros((*episode, coords_dim), jnp.float32),
    )


def check_replay_fits(make_collector: Callable[[], object], config: TrainConfig, seeds: int) -> None:
    """One line, before any allocation, when the seeds' collectors (replays, and the JAX environments'
    episodes in flight) exceed the device's memory."""
    collector = jax.eval_shape(make_collector)
    per_transition = tree_nbytes(collector.replay) / config.replay_size
    check_fits(
        seeds * tree_nbytes(collector),
        f"a replay of {config.replay_size:,} transitions ({per_transition:,.0f} B each) x {seeds} seed(s)",
        "lower --replay-size or run fewer --seeds",
    )


def fresh_collectors(init: Callable[[int], object], seeds: list[int]):
    """Every seed's collector, stacked, made by one program: stacking collectors made one by one would
    hold their replays twice."""
    from crl.train import stack

    return jax.jit(lambda: stack([init(seed) for seed in seeds]))()


def collect_step(
    agent_state, c: Collector, t: jax.Array, env: PointMaze, agent_config: AgentConfig, learned: bool
) -> Collector:
    """Step t of the current episodes in every environment: uniform random actions before learning starts,
    else the policy's exploration actions; finished episodes go to the replay and their environments are
    reset. `t` is the same for every environment and every seed, and is passed in unbatched so that the
    episode's end is a real branch under vmap (a batched predicate would copy the replay at every step)."""
    rng, k_act, k_step, k_reset = jax.random.split(c.rng, 4)
    obs = jax.vmap(env.observation)(c.env_states)
    goals = jax.vmap(env.goal)(c.env_states)
    if learned:
        actions = agent_module(agent_config).explore(
            agent_config, env.action_dim, agent_state, obs, goals, k_act
        )
    else:
        actions = jax.random.uniform(k_act, (len(obs), env.action_dim), minval=-1.0, maxval=1.0)
    env_states = jax.vmap(env.step)(c.env_states, actions, jax.random.split(k_step, len(obs)))
    episode_obs = (
        c.episode_observations.at[:, t].set(obs).at[:, t + 1].set(jax.vmap(env.observation)(env_states))
    )
    episode_actions = c.episode_actions.at[:, t].set(actions)
    episode_acted = c.episode_acted.at[:, t].set(learned)
    episode_coords = c.episode_coords  # images: the positions that the frames show
    if episode_coords is not None:
        shown = (env.coords(c.env_states), env.coords(env_states))
        episode_coords = episode_coords.at[:, t].set(shown[0]).at[:, t + 1].set(shown[1])
    done = t + 1 == env.episode_length

    def finish(args):
        replay, env_states, episodes, successes = args
        replay = insert(replay, episode_obs, episode_actions, goals, episode_acted, episode_coords)
        successes = successes + jnp.sum(env_states.succeeded)
        fresh = jax.vmap(env.reset)(jax.random.split(k_reset, len(obs)))
        return replay, fresh, episodes + len(obs), successes

    replay, env_states, episodes, successes = jax.lax.cond(
        done, finish, lambda args: args, (c.replay, env_states, c.episodes, c.successes)
    )
    return Collector(
        env_states, episode_obs, episode_actions, episode_acted, replay, rng, c.env_steps + len(obs),
        episodes, successes, episode_coords,
    )  # fmt: skip


class Rounds(NamedTuple):
    """What one round of collection and updates does (static: the compiled program depends on it)."""

    num_envs: int
    steps_per_env: int  # environment steps per round, in each environment
    updates: int  # updates per round

    @classmethod
    def of(cls, config: TrainConfig) -> Rounds:
        updates = round(config.collect * config.update_ratio)
        return cls(config.num_envs, config.collect // config.num_envs, updates)


# The collectors (replays) are updated in place: one copy of them, not two.
@partial(jax.jit, static_argnames=("env", "rounds", "agent_config", "iterations", "learn"), donate_argnums=1)
def run_online_chunk(
    states, collectors: Collector, env: PointMaze, rounds: Rounds, agent_config: AgentConfig,
    iterations: int, learn: bool, start: jax.Array,
) -> tuple:  # fmt: skip
    """`iterations` rounds (collect num_envs x steps_per_env transitions, then their updates) for every
    seed (vmap), from environment step `start` (every seed's). `learn=False` is the initial phase:
    random actions and no updates. Returns the new states and collectors, and per-seed metrics (update
    metrics averaged over the chunk, collection counts)."""
    steps_per_env, updates = rounds.steps_per_env, rounds.updates
    first_t = (start // rounds.num_envs) % env.episode_length

    def iteration(carry, i):
        state, c = carry

        def collect(k, c):
            t = (first_t + i * steps_per_env + k) % env.episode_length
            return collect_step(state, c, t, env, agent_config, learn)

        c = jax.lax.fori_loop(0, steps_per_env, collect, c)
        if not learn:
            return (state, c), {}
        state, infos = jax.lax.scan(
            lambda s, _: sample_and_update(s, c.replay, agent_config), state, None, updates
        )
        return (state, c), jax.tree.map(jnp.mean, infos)

    def one_seed(state, c):
        episodes, successes = c.episodes, c.successes
        (state, c), infos = jax.lax.scan(iteration, (state, c), jnp.arange(iterations))
        finished = c.episodes - episodes
        collected = {
            "online/episodes": finished.astype(jnp.float32),
            "online/success": (c.successes - successes) / jnp.maximum(finished, 1),
            "online/replay_fill": c.replay.filled / c.replay.capacity,
        }
        return state, c, {**jax.tree.map(jnp.mean, infos), **collected}

    return jax.vmap(one_seed)(states, collectors)  # `start` stays unbatched: see collect_step


@partial(jax.jit, static_argnames=("env", "agent_config", "episodes"))
def evaluate_online(
    states, env: PointMaze, agent_config: AgentConfig, episodes: int, key: jax.Array
) -> jax.Array:
    """Success rate of each seed's deterministic policy over `episodes` episodes from the environment's
    start and goal distribution; the same episodes (key) for every seed and every evaluation."""
    act = agent_module(agent_config).act

    def one_seed(state):
        def run(k_episode):
            k_reset, k_steps = jax.random.split(k_episode)

            def step(s, k):
                action = act(
                    agent_config, env.action_dim, state, env.observation(s)[None], env.goal(s)[None]
                )[0]
                return env.step(s, action, k), None

            final, _ = jax.lax.scan(step, env.reset(k_reset), jax.random.split(k_steps, env.episode_length))
            return final.succeeded

        return jnp.mean(jax.vmap(run)(jax.random.split(key, episodes)))

    return jax.vmap(one_seed)(states)


def rate_counts(
    config: TrainConfig, n_seeds: int, step: int, end: int, seconds: float, learn: bool
) -> dict[str, np.ndarray]:
    """The per-seed speed and update counts of an online chunk from `step` to `end`."""
    rate = (end - step) / seconds
    counts = {"env_steps_per_s": rate, "updates_per_s": rate * config.update_ratio if learn else 0.0,
              "online/updates": max(0, end - config.random_steps) * config.update_ratio}  # fmt: skip
    return {k: np.full(n_seeds, v) for k, v in counts.items()}


def log_evaluation(config: TrainConfig, logs: list, step: int, rates, distances=None) -> list[EvalResult]:
    """Each seed's success rate on the online environment (and mean final distance to the goal, where
    measured), as results logged to its run."""
    measures = [{}] * len(rates) if distances is None else [{"final_distance": float(d)} for d in distances]
    pairs = zip(rates, measures, strict=True)
    results = [EvalResult({config.env: float(r)}, config.eval_episodes, m) for r, m in pairs]
    for log, result in zip(logs, results, strict=True):
        log.evaluation(step, result.as_dict())
    return results


def online_job(config: TrainConfig, seeds: list[int], logs: list) -> Job:
    """The chunk loop's view of an online run: its carry is (agent states, collectors), stacked on seeds."""
    from crl.train import Job, abstract, initial_states, unstack

    env = make_env(config.env)
    if isinstance(env, LocomotionTask):
        from crl.online_experts import expert_job

        return expert_job(config, env, seeds, logs)
    if on_host(env):
        from crl.online_host import host_job

        return host_job(config, env, seeds, logs)
    agent_config = config.agent.for_run(config.steps)
    eval_key = jax.random.PRNGKey(0x5EED)  # the same evaluation episodes for every seed and evaluation

    def fresh(seed_list):
        check_replay_fits(lambda: init_collector(env, config, 0), config, len(seed_list))
        states = initial_states(agent_config, seed_list, env.obs_shape, env.action_dim)
        return states, fresh_collectors(lambda seed: init_collector(env, config, seed), seed_list)

    def advance(carry, step: int, end: int):
        learn = step >= config.random_steps
        tic = time.perf_counter()
        states, collectors, metrics = run_online_chunk(
            *carry,
            env,
            Rounds.of(config),
            agent_config,
            (end - step) // config.collect,
            learn,
            jnp.int32(step),
        )
        metrics = jax.device_get(metrics)
        counts = rate_counts(config, len(seeds), step, end, time.perf_counter() - tic, learn)
        return (states, collectors), metrics | counts

    def evaluate(step: int, carry) -> list[EvalResult]:
        rates = jax.device_get(evaluate_online(carry[0], env, agent_config, config.eval_episodes, eval_key))
        return log_evaluation(config, logs, step, rates)

    return Job(
        initial=lambda: fresh(seeds),
        template=lambda: abstract(lambda: unstack(fresh([0]), 0)),
        advance=advance,
        evaluate=evaluate,
        unit="env step",
    )
