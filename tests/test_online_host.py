"""Online training on the host robot tasks: what the rounds store, resume, goal spaces, failures, learning."""

from __future__ import annotations

import csv
import dataclasses
import os

import jax
import numpy as np
import pytest

pytest.importorskip("gymnasium_robotics", reason="the robot tasks need `pip install -e '.[test]'`")

from crl.checkpoint import Checkpoints  # noqa: E402
from crl.cli import main  # noqa: E402
from crl.data.replay import empty_replay, insert  # noqa: E402
from crl.data.sampling import sample_batch  # noqa: E402
from crl.envs.robots import TASKS, HostEnvs  # noqa: E402
from crl.logs import read_jsonl  # noqa: E402
from crl.online import online_job  # noqa: E402
from crl.train import read_config  # noqa: E402

FULL = os.environ.get("CRL_TEST_SCALE") == "full"
# Two copies, rounds of 2 x 50 steps: 200 random steps, then rounds of 100 updates on a small network.
FLAGS = ["--env", "fetch-reach", "--num-envs", "2", "--collect", "100", "--random-steps", "200",
         "--log-every", "200", "--checkpoint-every", "200", "--eval-every", "0", "--eval-episodes", "4",
         "--agent.batch-size", "32", "--agent.hidden", "32", "32", "--no-progress"]  # fmt: skip


def _train(tmp_path, run: str, steps: int, *extra: str) -> int:
    return main(["train", *FLAGS, "--env-steps", str(steps), "--run-dir", str(tmp_path / run), *extra])


def _final(run_dir, steps: int):
    config = read_config(run_dir)
    template = online_job(config, [0], []).template()
    return Checkpoints(run_dir / "checkpoints").restore(template, steps)


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    """An uninterrupted 600-step fetch-reach run (200 random steps, then 400 updates)."""
    tmp_path = tmp_path_factory.mktemp("host")
    assert _train(tmp_path, "straight", 600) == 0
    return tmp_path / "straight"


def test_a_resumed_host_run_ends_bit_identical_to_an_uninterrupted_one(straight, tmp_path, capsys):
    """Stopped at a checkpoint and resumed: the environments restart their episodes from the same seeds,
    so parameters, optimizer, replay and counters all match the uninterrupted run."""
    assert _train(tmp_path, "split", 400) == 0
    assert _train(tmp_path, "split", 600, "--resume") == 0
    assert "resuming" in capsys.readouterr().out
    straight_end, split_end = _final(straight, 600), _final(tmp_path / "split", 600)
    for a, b in zip(jax.tree.leaves(straight_end), jax.tree.leaves(split_end), strict=True):
        np.testing.assert_array_equal(a, b)
    metrics = read_jsonl(straight / "metrics.jsonl")
    assert [m["step"] for m in metrics] == [200, 400, 600]
    assert "critic/loss" not in metrics[0] and np.isfinite(metrics[-1]["critic/loss"])  # learning after 200
    capacity = 1_000_000 // 50  # episodes the default replay holds
    assert [m["online/replay_fill"] for m in metrics] == [pytest.approx(e / capacity) for e in (4, 8, 12)]
    assert [m["online/episodes"] for m in metrics] == [4, 4, 4]


def test_the_replay_holds_the_episodes_the_copies_played(straight):
    """Each stored episode is its named episode replayed: resetting a fresh copy from the same (seed,
    episode number) and stepping the stored actions gives the stored states, and its commanded goal."""
    _, collector = _final(straight, 600)
    replay = collector.replay
    assert int(collector.episodes) == int(replay.inserted) == 12 and int(collector.env_steps) == 600
    task = TASKS["fetch-reach"]
    for episode in (1, 7):  # a random-action episode and a policy episode (rounds of 2 episodes)
        env = HostEnvs(task, 1, seed=123)
        states, goals = env.reset([(0, episode)])
        observations = np.asarray(replay.episode_observations[episode])
        actions = np.asarray(replay.episode_actions[episode])
        np.testing.assert_array_equal(goals[0], np.asarray(replay.episode_goals[episode]))
        np.testing.assert_array_equal(states[0], observations[0])
        for t in range(task.episode_length):
            states = env.step(actions[t][None])
            np.testing.assert_array_equal(states[0], observations[t + 1])
        assert bool(replay.episode_acted[episode, 0]) == (episode >= 4)  # the first 200 steps are random


def test_ant_goals_are_the_xy_of_relabelled_states():
    """A replay with goal_indices (0, 1): critic and actor goals are the XY of states of the same episode,
    commanded goals are 2-D, and a CRL agent built for 2-D goals trains on such a batch."""
    from crl.agents import crl
    from crl.config import CRLConfig

    length, dim = 6, 29
    replay = empty_replay(4 * length, length, (dim,), 8, goal_indices=(0, 1))
    states = np.random.default_rng(0).normal(size=(4, length + 1, dim)).astype(np.float32)
    states[:, :, 2] = np.arange(4)[:, None]  # coordinate 2 names the episode
    replay = insert(
        replay,
        states,
        np.zeros((4, length + 1, 8), np.float32),
        states[:, 0, :2],
        np.ones((4, length + 1), bool),
    )
    batch = jax.jit(sample_batch, static_argnums=(2, 3, 4))(
        jax.random.PRNGKey(0), replay, 64, 0.9, (0.0, 1.0, 0.0)
    )
    assert batch.critic_goals.shape == batch.actor_goals.shape == batch.commanded_goals.shape == (64, 2)
    flat = states.reshape(-1, dim)
    for goals in (batch.critic_goals, batch.actor_goals):
        rows = [np.nonzero((flat[:, :2] == g).all(1))[0][0] for g in np.asarray(goals)]
        np.testing.assert_array_equal(flat[rows, 2], np.asarray(batch.observations)[:, 2])  # same episode
    config = CRLConfig(batch_size=64, hidden=(16, 16), latent_dim=8)
    state = crl.init(jax.random.PRNGKey(0), config, dim, 8, goal_dim=2)
    _, info = jax.jit(crl.update, static_argnums=2)(state, batch, config)  # eager updates are slow
    assert np.isfinite(info["critic/loss"])


def test_a_failing_environment_stops_the_run_naming_the_task_and_the_last_checkpoint(
    tmp_path, monkeypatch, capsys
):
    """A simulator that returns NaN mid-run: one line naming the task and the last good checkpoint; the
    checkpoint is kept and the run resumes from it once the environment behaves."""
    from crl.envs import robots

    calls = {"n": 0}
    step = robots.FetchTask.step

    def breaks_after_300(self, env, action):
        calls["n"] += 1
        state = step(self, env, action)
        return state * np.nan if calls["n"] > 300 else state  # 2 copies: from the run's step 300

    monkeypatch.setattr(robots.FetchTask, "step", breaks_after_300)
    assert _train(tmp_path, "broken", 600) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "fetch-reach copy" in err and "non-finite state" in err
    assert "the last good checkpoint is step 200" in err and "--resume" in err
    assert Checkpoints(tmp_path / "broken" / "checkpoints").all_steps() == [200]
    monkeypatch.setattr(robots.FetchTask, "step", step)
    assert _train(tmp_path, "broken", 600, "--resume") == 0


def test_host_runs_collect_whole_episodes_and_name_missing_packages(tmp_path, capsys, monkeypatch):
    import sys

    assert main(["train", "--env", "fetch-reach", "--collect", "16", "--run-dir", str(tmp_path)]) == 2
    assert (
        "fetch-reach collects whole episodes (50 steps) in each of --num-envs 4 copies per round: "
        "set --collect 200" in capsys.readouterr().err
    )
    assert main(["train", "--env", "fetch-rech", "--run-dir", str(tmp_path)]) == 2
    assert "did you mean fetch-reach" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "metaworld", None)
    assert (
        main(["train", "--env", "sawyer-push", "--run-dir", str(tmp_path / "mw"), "--env-steps", "1200"]) == 2
    )
    assert "sawyer-push needs metaworld: pip install" in capsys.readouterr().err


@pytest.mark.slow
def test_quick_preset_learns_fetch_reach(tmp_path):
    """The quick preset on fetch-reach, run as a user runs it, in a `crl` process of its own (the CLI
    starts JAX with the second CPU device the copies act on; in this process JAX has one). Full form:
    >= 90% success at 30k environment steps (97% measured). CI's reduced form stops at 6k steps (4k
    updates), before the policy succeeds (success rises from 20k steps: 46% there), and asserts what is
    learnt by then: the critic picks each state's own future out of the 256 in its minibatch at least 5x
    as often as chance (measured with this command and --log-every 1000: 0.048 = 12x chance; 0.010 after
    2k updates)."""
    import subprocess
    import sys

    steps = 30_000 if FULL else 6_000
    schedule = ["--env-steps", str(steps), "--eval-every", "0", "--log-every", "1000"]
    args = ["train", "--env", "fetch-reach", *schedule, "--eval-episodes", "50" if FULL else "0",
            "--run-dir", str(tmp_path), "--no-progress"]  # fmt: skip
    subprocess.run([sys.executable, "-m", "crl.cli", *args], check=True, capture_output=True)
    assert dataclasses.asdict(read_config(tmp_path))["env"] == "fetch-reach"
    if FULL:
        final = read_jsonl(tmp_path / "eval.jsonl")[-1]["overall"]
        assert final >= 0.9, final
    else:
        last = read_jsonl(tmp_path / "metrics.jsonl")[-1]
        assert last["step"] == steps and last["critic/categorical_accuracy"] >= 5 / 256, last


def test_the_success_curve_of_host_runs_is_plotted_against_environment_steps(straight, tmp_path):
    from crl.errors import CrlError
    from crl.plots import EVAL_SUCCESS, plot_curves

    out = plot_curves([straight], EVAL_SUCCESS, tmp_path / "success.png")
    assert out.read_bytes().startswith(b"\x89PNG")
    with pytest.raises(CrlError, match="has no 'encoder/loss' in metrics.jsonl"):
        plot_curves([straight], "encoder/loss", tmp_path / "none.png")


def test_goaldim_plots_the_final_distance_each_seed_logged_by_goal_size(straight, tmp_path, capsys):
    """Host evaluations log the mean final distance to the goal beside success; `crl analyze goaldim`
    reads it per seed from runs on sawyer-push-goalK and refuses runs on other tasks."""
    evaluation = read_jsonl(straight / "eval.jsonl")[-1]
    assert 0 <= evaluation["final_distance"] < 1  # metres, from the gripper to its target
    run = tmp_path / "goal1"
    flags = ["--env", "sawyer-push-goal1", "--num-envs", "2", "--collect", "300", "--random-steps", "300",
             "--env-steps", "600", "--log-every", "300", "--checkpoint-every", "600", "--eval-every", "0",
             "--eval-episodes", "2", "--agent.batch-size", "16", "--agent.hidden", "16", "--seeds", "2",
             "--run-dir", str(run), "--no-progress"]  # fmt: skip
    assert main(["train", *flags]) == 0
    out = tmp_path / "out"
    assert main(["analyze", "goaldim", str(run), "--out", str(out)]) == 0
    logged = [read_jsonl(run / f"seed{s}" / "eval.jsonl")[-1]["final_distance"] for s in (0, 1)]
    with (out / "goaldim.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [(r["goal_dims"], r["seed"]) for r in rows] == [("1", "0"), ("1", "1")]
    np.testing.assert_allclose([float(r["final_distance"]) for r in rows], logged, rtol=1e-5)
    assert "goal of 1 dims: final distance" in capsys.readouterr().out
    assert main(["analyze", "goaldim", str(straight), "--out", str(out)]) == 2
