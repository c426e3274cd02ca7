import gymnasium
import numpy as np

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


def test_draws_while_stepping_depend_on_the_episode_not_on_its_wave():
    gymnasium.register("CrlGlobalDrawProbe-v0", entry_point=GlobalDrawProbe)

    def still(obs, goals):
        return np.zeros_like(obs)

    def run(max_envs):
        results = evaluate_seeds(
            "CrlGlobalDrawProbe-v0", still, 16, [3, 4], progress=False, max_envs=max_envs
        )
        return [r.task_success for r in results]

    np.random.seed(123)
    caller = np.random.get_state()
    together = run(None)
    assert np.random.get_state()[1].tolist() == caller[1].tolist()  # the caller's generator is given back
    assert run(2) == together and run(5) == together  # one episode per seed per wave, and uneven waves
    rates = [rate for seed in together for rate in seed.values()]
    assert 0.0 < np.mean(rates) < 1.0 and len(set(rates)) > 1
