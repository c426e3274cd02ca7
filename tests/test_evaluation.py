import os

import gymnasium
import numpy as np
import pytest

from crl import evaluation
from crl.errors import CrlError
from crl.evaluation import evaluate, evaluate_seeds, reset_episode

ENV = "pointmaze-medium-v0"


def _oracle_policy():
    """Steers toward the maze oracle's next cell: a function of (position, goal) only."""
    maze = gymnasium.make(ENV).unwrapped

    def policy(obs, goals):
        actions = []
        for xy, goal in zip(obs, goals, strict=True):
            sub = maze.get_oracle_subgoal(xy, goal)[0]
            # In the goal's own cell, head straight for the goal.
            target = goal if maze.xy_to_ij(xy) == maze.xy_to_ij(goal) else sub
            d = target - xy
            actions.append(d / (np.linalg.norm(d) + 1e-6))
        return np.clip(np.array(actions), -1, 1)

    return policy


def test_start_and_goal_depend_only_on_seed_task_and_episode():
    a, b = gymnasium.make(ENV), gymnasium.make(ENV)
    obs_a, goal_a = reset_episode(a, seed=0, task_id=3, episode=7)
    reset_episode(b, seed=0, task_id=1, episode=0)  # a different history on b
    obs_b, goal_b = reset_episode(b, seed=0, task_id=3, episode=7)
    np.testing.assert_array_equal(obs_a, obs_b)
    np.testing.assert_array_equal(goal_a, goal_b)
    obs_c, _ = reset_episode(b, seed=0, task_id=3, episode=8)
    assert not np.array_equal(obs_a, obs_c)
    # The episode starts near the task's initial cell and the goal near its goal cell.
    info = a.unwrapped.task_infos[2]
    assert np.linalg.norm(obs_a - np.array(info["init_xy"])) <= 1.0 * np.sqrt(2) + 0.2
    assert np.linalg.norm(goal_a - np.array(info["goal_xy"])) <= 1.0 * np.sqrt(2)


def test_oracle_policy_succeeds_and_a_still_policy_fails():
    oracle = evaluate(ENV, _oracle_policy(), episodes=2, seed=0, progress=False)
    assert set(oracle.task_success) == {f"task{i}" for i in range(1, 6)}
    assert oracle.overall >= 0.9
    still = evaluate(ENV, lambda obs, goals: np.zeros_like(obs), episodes=2, seed=0, progress=False)
    assert still.overall == 0.0


def test_batched_evaluation_calls_the_policy_once_per_step_for_all_episodes():
    calls = []

    def policy(obs, goals):
        calls.append(len(obs))
        return np.zeros_like(obs)

    evaluate(ENV, policy, episodes=3, seed=0, progress=False)
    assert set(calls) == {15}  # 5 tasks x 3 episodes in every call
    assert len(calls) == gymnasium.make(ENV).spec.max_episode_steps


class GlobalDrawProbe(gymnasium.Env):
    """Like OGBench's teleport maze, draws from NumPy's global generator while stepping; an episode
    succeeds when its five draws sum past 2.5."""

    observation_space = gymnasium.spaces.Box(-1.0, 1.0, (2,), np.float32)
    action_space = gymnasium.spaces.Box(-1.0, 1.0, (2,), np.float32)
    task_infos = [{"task_name": "task1"}, {"task_name": "task2"}]

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.t, self.total = 0, 0.0
        return np.zeros(2, np.float32), {"goal": np.zeros(2, np.float32)}

    def step(self, action):
        self.t, self.total = self.t + 1, self.total + np.random.rand()
        return np.zeros(2, np.float32), 0.0, False, self.t >= 5, {"success": float(self.total > 2.5)}


gymnasium.register("CrlGlobalDrawProbe-v0", entry_point=GlobalDrawProbe)


def _still(obs, goals):
    return np.zeros_like(obs)


def _probe_rates(**how) -> list[dict[str, float]]:
    """The probe's per-task success for seeds 3 and 4, 16 episodes a task, evaluated `how`."""
    results = evaluate_seeds("CrlGlobalDrawProbe-v0", _still, 16, [3, 4], progress=False, **how)
    return [r.task_success for r in results]


def test_draws_while_stepping_depend_on_the_episode_not_on_its_wave():
    np.random.seed(123)
    caller = np.random.get_state()
    together = _probe_rates()
    assert np.random.get_state()[1].tolist() == caller[1].tolist()  # the caller's generator is given back
    # One episode per seed per wave, and uneven waves.
    assert _probe_rates(max_envs=2) == together and _probe_rates(max_envs=5) == together
    rates = [rate for seed in together for rate in seed.values()]
    assert 0.0 < np.mean(rates) < 1.0 and len(set(rates)) > 1


def test_episodes_stepped_in_worker_processes_end_as_in_this_process():
    """Blocks of a wave stepped in 2 or 3 worker processes: the same per-episode draws (the probe) and the
    same pointmaze episodes as one process, and still one policy call per step for all of them."""
    alone = _probe_rates(processes=1)
    assert _probe_rates(processes=2) == alone and _probe_rates(processes=3) == alone
    assert len({rate for seed in alone for rate in seed.values()}) > 1

    oracle = _oracle_policy()

    def observed(processes):
        seen = []

        def policy(obs, goals):
            seen.append(obs.copy())
            return oracle(obs, goals)

        return evaluate_seeds(ENV, policy, 3, [0], progress=False, processes=processes)[0], seen

    in_workers, seen = observed(2)
    alone, seen_alone = observed(1)
    assert {len(obs) for obs in seen} == {15} and len(seen) == len(seen_alone)  # one call per step
    assert all(np.array_equal(a, b) for a, b in zip(seen, seen_alone, strict=True))
    assert in_workers.task_success == alone.task_success
    assert in_workers.overall >= 0.9


class FailingProbe(GlobalDrawProbe):
    """Fails at its third step: in a worker process, as an environment that raises would."""

    def step(self, action):
        if self.t == 2:
            raise ValueError("probe failed at step 3")
        return super().step(action)


class DyingProbe(GlobalDrawProbe):
    """Ends its worker process at its third step, as a crash in the simulator would."""

    def step(self, action):
        if self.t == 2:
            os._exit(3)
        return super().step(action)


gymnasium.register("CrlFailingProbe-v0", entry_point=FailingProbe)
gymnasium.register("CrlDyingProbe-v0", entry_point=DyingProbe)


def test_a_failure_in_a_worker_process_reaches_the_caller_and_the_next_evaluation_starts_clean():
    with pytest.raises(ValueError, match="probe failed at step 3"):
        evaluate_seeds("CrlFailingProbe-v0", _still, 4, [0], progress=False, processes=2)
    assert "CrlFailingProbe-v0" not in evaluation._WORKERS  # closed: they may hold a half-run wave
    with pytest.raises(CrlError, match=r"worker process CrlDyingProbe-v0-\d died \(exit code 3\)"):
        evaluate_seeds("CrlDyingProbe-v0", _still, 4, [0], progress=False, processes=2)
    # Fresh workers for the next evaluation of the same environment.
    first = evaluate_seeds("CrlGlobalDrawProbe-v0", _still, 4, [1], progress=False, processes=2)
    evaluate_seeds(ENV, _still, 3, [0], progress=False, processes=2)  # another environment's workers
    assert evaluate_seeds("CrlGlobalDrawProbe-v0", _still, 4, [1], progress=False, processes=1) == first
    assert list(evaluation._WORKERS) == [ENV]  # one environment's workers at a time
