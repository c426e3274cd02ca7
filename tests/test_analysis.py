"""The analysis experiments: the linear probe, the features it reads, and `crl analyze` on small runs."""

from __future__ import annotations

import csv
import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from crl.agents import crl as crl_agent
from crl.agents import td3
from crl.analysis import features
from crl.analysis.probe import linear_probe
from crl.cli import main
from crl.config import CRLConfig, TD3Config
from crl.envs import make_env
from crl.presets import preset_config
from crl.train import train
from tests.conftest import DATASET, tiny_config


def _maze_distances(n: int = 3000) -> np.ndarray:
    env = make_env("point-fourrooms")
    starts, goals = features.random_points(env, n, 0), features.random_points(env, n, 1)
    return np.asarray(env.shortest_path(starts, goals), np.float64)


def test_the_probe_recovers_a_feature_that_is_the_distance_and_not_noise():
    distance = _maze_distances()
    exact = linear_probe(np.c_[3.0 * distance - 1.0], distance)
    assert exact["test_mse"] < 1e-12
    noise = linear_probe(np.random.default_rng(0).normal(size=(len(distance), 8)), distance)
    assert 0.95 < noise["test_mse"] / noise["test_variance"] < 1.1  # no better than the mean


def test_shortest_paths_between_random_points_exceed_the_straight_line_through_walls():
    """The probe's target is the BFS distance through free cells: on fourrooms it is at least the
    cell-grid (Manhattan) distance between the points' cells, and for some pairs more (a wall between)."""
    env = make_env("point-fourrooms")
    starts, goals = features.random_points(env, 2000, 0), features.random_points(env, 2000, 1)
    bfs = np.asarray(env.shortest_path(starts, goals))
    manhattan = np.abs(np.floor(starts) - np.floor(goals)).sum(-1)
    assert (bfs >= manhattan).all() and (bfs > manhattan + 2).mean() > 0.1
    assert env.free_cells.tolist() == np.floor(features.grid_points(env, 1)).astype(int).tolist()


def test_crl_pair_features_sum_to_the_critics_logit():
    config = CRLConfig(hidden=(16,), latent_dim=8)
    state = crl_agent.init(jax.random.PRNGKey(0), config, 2, 2)
    env = make_env("point-fourrooms")
    obs = features.observations(env, features.random_points(env, 16, 0))
    goals = features.observations(env, features.random_points(env, 16, 1))
    x = features.pair_features(config, state.params, obs, goals, 2)
    q_values, encode = (jax.jit(f, static_argnums=0) for f in (crl_agent.q_values, crl_agent._encode))
    q = q_values(config, state.params["critic"], obs, jnp.zeros((16, 2)), goals)[0]
    log_scale = encode(config, state.params["critic"], obs, jnp.zeros((16, 2)), goals)[2][0]
    np.testing.assert_allclose(x.sum(-1) / np.sqrt(8) * np.exp(log_scale), q, rtol=1e-5, atol=1e-6)
    assert np.abs(q).max() > 1e-3


def test_td3_features_are_its_first_critics_last_hidden_layer():
    """The critic's output layer applied to the features gives the first critic's Q-values."""
    config = TD3Config(hidden=(16, 16))
    state = td3.init(jax.random.PRNGKey(0), config, 2, 2)
    obs, goals = jax.random.normal(jax.random.PRNGKey(1), (2, 10, 2))
    x = features.pair_features(config, state.params, obs, goals, 2)
    assert x.shape == (10, 16) and (x >= 0).all()  # after the ReLU
    out = state.params["critic"]["Dense_2"]  # the output layer of 2 hidden layers
    q = td3.q_values(config, state.params["critic"], obs, jnp.zeros((10, 2)), goals)[0]
    np.testing.assert_allclose(x @ np.asarray(out["kernel"][0]) + np.asarray(out["bias"][0]), q[:, None],
                               rtol=1e-5, atol=1e-5)  # fmt: skip


def test_td3_on_images_is_read_through_its_critics_cnn():
    """Pair features still give the first critic's Q through its output layer; an observation alone is
    what the first critic's CNN makes of it (Fig. 16e), one feature row per frame."""
    config = TD3Config(hidden=(16, 16), encoder="nature")
    state = jax.jit(td3.init, static_argnums=(1, 2, 3))(jax.random.PRNGKey(0), config, (64, 64, 3), 2)
    env = make_env("point-fourrooms-image")
    obs = features.observations(env, features.random_points(env, 6, 0))
    goals = features.observations(env, features.random_points(env, 6, 1))
    x = features.pair_features(config, state.params, obs, goals, 2)
    out = state.params["critic"]["Dense_2"]
    q = td3.q_values(config, state.params["critic"], obs, jnp.zeros((6, 2)), goals)[0]
    np.testing.assert_allclose(x @ np.asarray(out["kernel"][0]) + np.asarray(out["bias"][0]), q[:, None],
                               rtol=1e-4, atol=1e-5)  # fmt: skip
    seen = features.state_action(config, state.params, obs, 2)
    assert seen.shape == (6, 1024) and len({row.tobytes() for row in seen}) == 6
    first_cnn = jax.tree.map(lambda p: p[0], state.params["critic"]["encoder"])
    from crl.encoders import make_encoder

    np.testing.assert_allclose(seen, make_encoder("nature").apply({"params": first_cnn}, obs), rtol=1e-5)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A short CRL run and a short TD3+HER run on point-fourrooms (208 random steps, then 208 updates)."""
    root = tmp_path_factory.mktemp("analysis")
    made = {}
    for agent in ("crl", "td3her"):
        config = preset_config("quick", None, agent, env="point-fourrooms")
        small = dict(batch_size=32, hidden=(32, 32)) | ({"latent_dim": 16} if agent == "crl" else {})
        config = dataclasses.replace(
            config, agent=dataclasses.replace(config.agent, **small), steps=416, random_steps=208,
            log_every=208, checkpoint_every=416, eval_every=0, eval_episodes=0, run_dir=root / agent,
            progress=False,
        )  # fmt: skip
        train(config)
        made[agent] = root / agent
    return made


def _read(path):
    with path.open() as f:
        return list(csv.DictReader(f))


def test_probe_compares_each_run_with_the_untrained_agent(runs, tmp_path, capsys):
    out = tmp_path / "probe"
    assert main(["analyze", "probe", str(runs["crl"]), str(runs["td3her"]), "--out", str(out),
                 "--pairs", "600"]) == 0  # fmt: skip
    rows = _read(out / "probe.csv")
    assert [r["agent"] for r in rows] == ["untrained crl", "crl (crl)", "td3her (td3her)"]
    relative = [float(r["relative_test_mse"]) for r in rows]
    assert len(set(relative)) == 3 and all(0 < r < 2 for r in relative)  # the runs' own parameters
    assert (out / "probe.png").stat().st_size > 10_000
    assert "test MSE / variance" in capsys.readouterr().out


def test_tsne_embeds_phi_at_every_grid_point_of_the_maze(runs, tmp_path):
    out = tmp_path / "tsne"
    assert main(["analyze", "tsne", str(runs["crl"]), "--out", str(out), "--per-cell", "2"]) == 0
    rows = _read(out / "tsne.csv")
    env = make_env("point-fourrooms")
    points = features.grid_points(env, 2)
    assert len(rows) == 2 * len(points) == 2 * 4 * len(env.free_cells)
    for agent in ("untrained crl", "crl (crl)"):
        mine = [r for r in rows if r["agent"] == agent]
        np.testing.assert_allclose([[float(r["row"]), float(r["col"])] for r in mine], points, rtol=1e-5)
        xy = np.array([[float(r["x"]), float(r["y"])] for r in mine])
        assert np.isfinite(xy).all() and xy.std(0).min() > 0
    assert (out / "tsne.png").stat().st_size > 10_000
    episode = [r for r in _read(out / "tsne-episode.csv") if r["agent"] == "crl (crl)"]
    assert [int(r["t"]) for r in episode] == list(range(env.episode_length + 1))
    path = np.array([[float(r["row"]), float(r["col"])] for r in episode])
    assert (np.abs(np.diff(path, axis=0)) <= 1.0 + 1e-5).all()  # a step moves at most 1 per axis
    assert not jax.vmap(env.blocked)(jnp.asarray(path)).any()


def test_analyses_refuse_what_they_cannot_read_in_one_line(runs, tmp_path, capsys):
    assert main(["analyze", "tsne", str(runs["td3her"]), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert (
        "needs a crl run's representations (or a td3her run's image encoder); this run trained td3her on "
        "states" in err
    )


def test_a_td3_run_from_pixels_is_rewarded_and_analysed(tmp_path):
    """`crl train --agent td3her` on point-fourrooms-image (128 updates, batch 8): rewards come from the
    positions its frames show (some, not all, relabelled goals reached), and t-SNE embeds its CNN's view
    of the maze beside the untrained agent's (Fig. 16c, e)."""
    from crl.logs import read_jsonl

    run = tmp_path / "run"
    config = preset_config("quick", None, "td3her", env="point-fourrooms-image")
    config = dataclasses.replace(
        config, agent=dataclasses.replace(config.agent, batch_size=8, hidden=(16, 16)), steps=384,
        random_steps=256, log_every=64, checkpoint_every=384, eval_every=0, eval_episodes=0, run_dir=run,
        replay_size=20_000, progress=False,
    )  # fmt: skip
    train(config)
    rewards = [m["critic/reward"] for m in read_jsonl(run / "metrics.jsonl") if "critic/reward" in m]
    assert len(rewards) == 2 and 0 < np.mean(rewards) < 1
    assert main(["analyze", "tsne", str(run), "--out", str(tmp_path / "tsne"), "--per-cell", "1"]) == 0
    rows = _read(tmp_path / "tsne" / "tsne.csv")
    assert {r["agent"] for r in rows} == {"untrained td3her", "td3her (run)"}
    embedded = {a: np.array([[float(r["x"]), float(r["y"])] for r in rows if r["agent"] == a]) for a in
                ("untrained td3her", "td3her (run)")}  # fmt: skip
    assert all(len(xy) == len(make_env("point-fourrooms").free_cells) for xy in embedded.values())
    assert not np.allclose(*embedded.values())  # the trained CNN is the run's own


def test_cosine_similarity_of_orthogonal_gradients_is_zero_off_the_diagonal():
    from crl.analysis.gradients import cosine_matrix, off_diagonal_mean

    orthogonal = jnp.asarray(np.linalg.qr(np.random.default_rng(0).normal(size=(40, 6)))[0].T * 5.0)
    np.testing.assert_allclose(cosine_matrix(orthogonal), np.eye(6), atol=1e-5)
    assert off_diagonal_mean(cosine_matrix(jnp.ones((4, 3)) * jnp.arange(1, 5)[:, None])) == pytest.approx(1)


def test_gradsim_writes_symmetric_cosine_matrices_for_goals_and_states(runs, tmp_path, capsys):
    out = tmp_path / "gradsim"
    assert main(["analyze", "gradsim", str(runs["crl"]), "--out", str(out), "--points", "6"]) == 0
    rows = _read(out / "gradsim.csv")
    assert len(rows) == 2 * 2 * 36  # two agents, goals and states varied, 6 x 6
    for agent in ("untrained crl", "crl (crl)"):
        for varied in ("goals", "states"):
            m = np.zeros((6, 6))
            for r in rows:
                if r["agent"] == agent and r["varied"] == varied:
                    m[int(r["i"]), int(r["j"])] = float(r["cosine"])
            np.testing.assert_allclose(np.diag(m), 1.0, atol=1e-4)
            np.testing.assert_allclose(m, m.T, atol=1e-4)
            assert (np.abs(m) <= 1 + 1e-5).all() and not np.allclose(m, 1.0)
    assert "mean cosine, goals varied" in capsys.readouterr().out


def test_an_ogbench_maze_datasets_states_sit_in_free_cells_of_its_map(tiny_data_dir):
    """The dataset's (x, y) mapped onto OGBench's maze grid: every state in a free cell, and consecutive
    states of a trajectory in the same or neighbouring cells (shortest path 0 or 1)."""
    from crl.analysis.spaces import DatasetMaze

    space = DatasetMaze.load(DATASET, tiny_data_dir)
    cells = np.floor(space.positions).astype(int)
    assert not space.maze.walls[cells[:, 0], cells[:, 1]].any()
    assert len(np.unique(cells, axis=0)) > len(space.maze.free_cells) // 2  # the data spread over the maze
    positions, obs, actions = space.episode(None, 0)
    steps = np.asarray(space.maze.shortest_path(positions[:-1], positions[1:]))
    assert set(np.unique(steps)) <= {0, 1} and len(obs) == len(actions) == len(positions) > 100


def test_probe_and_tsne_read_a_run_on_an_ogbench_maze_dataset(tiny_data_dir, tmp_path, capsys):
    from crl.analysis.spaces import DatasetMaze

    train(tiny_config(tiny_data_dir, tmp_path / "run"))
    out = tmp_path / "out"
    assert main(["analyze", "probe", str(tmp_path / "run"), "--out", str(out), "--pairs", "500"]) == 0
    assert [r["agent"] for r in _read(out / "probe.csv")] == ["untrained crl", "crl (run)"]
    assert main(["analyze", "tsne", str(tmp_path / "run"), "--out", str(out), "--per-cell", "1"]) == 0
    space = DatasetMaze.load(DATASET, tiny_data_dir)
    rows = [r for r in _read(out / "tsne.csv") if r["agent"] == "crl (run)"]
    assert len(rows) == len(space.maze.free_cells)  # one dataset state near each free cell's centre
    points = np.array([[float(r["row"]), float(r["col"])] for r in rows])
    assert np.abs(points - (space.maze.free_cells + 0.5)).max(1).mean() < 0.5
    episode = [r for r in _read(out / "tsne-episode.csv") if r["agent"] == "crl (run)"]
    assert len(episode) == len(space.episode(None, 0)[0])
