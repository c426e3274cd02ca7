"""The locomotion datasets (issue 19, part 2): antmaze episodes driven by a (tiny) trained expert through
OGBench's waypoint oracle, in the official layout, loadable by ogbench, resumable by chunks."""

from __future__ import annotations

import shutil
from collections import deque

import gymnasium
import numpy as np
import ogbench
import pytest

from crl.cli import main
from crl.data import generate as gen
from crl.data.locomaze import EXPLORE_EVERY, RECIPES, MazeGenerator, load_expert
from crl.errors import CrlError

NAVIGATE = "antmaze-medium-navigate-v0"
EXPERT_FLAGS = ["--steps", "2000", "--random-steps", "1000", "--log-every", "1000", "--checkpoint-every",
                "1000", "--eval-every", "0", "--eval-episodes", "1", "--agent.batch-size", "32",
                "--agent.hidden", "32", "32", "--agent.critic-hidden", "32", "32",
                "--no-progress"]  # fmt: skip


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """A data directory whose experts/ant is a 2,000-step ant expert (`crl expert train ant`)."""
    directory = tmp_path_factory.mktemp("data")
    assert (
        main(["expert", "train", "ant", *EXPERT_FLAGS, "--run-dir", str(directory / "experts" / "ant")]) == 0
    )
    return directory


def test_an_expert_dataset_has_the_official_layout_and_loads_through_ogbench(data_dir, monkeypatch):
    real, made = gen.generate_chunk, []

    def chunk(*job, crash_at=None):
        if len(made) == crash_at:
            raise KeyboardInterrupt  # a killed generation
        made.append(job[2:4])  # (split, first episode)
        return real(*job)

    monkeypatch.setattr(gen, "generate_chunk", lambda *job: chunk(*job, crash_at=1))
    with pytest.raises(KeyboardInterrupt):
        gen.generate(NAVIGATE, data_dir, episodes=2, progress=False, chunk_episodes=1)
    made.clear()
    monkeypatch.setattr(gen, "generate_chunk", chunk)
    train, val = gen.generate(NAVIGATE, data_dir, episodes=2, progress=False, chunk_episodes=1)
    assert made == [(0, 1), (1, 0)]  # the finished chunk (training episode 0) is not made again
    with np.load(train) as f:
        arrays = {k: f[k] for k in f.files}
    n = 2 * 1001
    shapes = {"observations": (n, 29), "actions": (n, 8), "terminals": (n,), "qpos": (n, 15), "qvel": (n, 14)}
    assert {k: v.shape for k, v in arrays.items()} == shapes
    assert np.flatnonzero(arrays["terminals"]).tolist() == [1000, 2001]  # episodes never cross
    assert np.abs(arrays["actions"]).max() <= 1.0
    np.testing.assert_array_equal(arrays["observations"][:, :15], arrays["qpos"])  # the ant's own state
    dataset = ogbench.utils.load_dataset(str(train))
    assert dataset["observations"].shape == (n - 2, 29) and dataset["terminals"].sum() == 2
    manifest = gen._read_manifest(data_dir, NAVIGATE)
    assert manifest["experts"]["ant"]["step"] == 2000 and manifest["recipe"]["noise"] == 0.2
    again = MazeGenerator(RECIPES[NAVIGATE], 0, load_expert(data_dir / "experts" / "ant", RECIPES[NAVIGATE]))
    np.testing.assert_array_equal(again.episode(0, 0)[0]["actions"], arrays["actions"][:1001])


def _goal_distances(maze_map: np.ndarray, goal: tuple[int, int]) -> dict:
    dist, queue = {goal: 0}, deque([goal])
    while queue:
        i, j = queue.popleft()
        for a, b in ((i + 1, j), (i - 1, j), (i, j + 1), (i, j - 1)):
            if maze_map[a, b] == 0 and (a, b) not in dist:
                dist[(a, b)] = dist[(i, j)] + 1
                queue.append((a, b))
    return dist


def test_the_oracle_commands_the_direction_of_the_next_cell_toward_the_goal(data_dir):
    recipe = RECIPES[NAVIGATE]
    generator = MazeGenerator(recipe, 0, load_expert(data_dir / "experts" / "ant", recipe))
    maze = generator.maze
    for index in range(5):
        generator.episode(0, index)  # leaves the maze at the episode's end, with its last goal
        xy = maze.get_xy()
        here, goal = maze.xy_to_ij(xy), maze.xy_to_ij(maze.cur_goal_xy)
        dist = _goal_distances(maze.maze_map, goal)
        direction = generator.direction(1, None)
        assert abs(np.linalg.norm(direction) - 1) < 1e-5
        toward = np.asarray(maze.ij_to_xy(maze.xy_to_ij(xy + 4.0 * direction))) if here != goal else None
        if here == goal:  # in the goal cell: toward its centre
            centre = np.asarray(maze.ij_to_xy(here))
            np.testing.assert_allclose(direction, (centre - xy) / np.linalg.norm(centre - xy), atol=1e-4)
        else:  # a neighbouring cell one step nearer the goal
            assert dist[maze.xy_to_ij(toward)] == dist[here] - 1


def test_explore_directions_hold_for_ten_steps_then_change(data_dir):
    recipe = RECIPES["antmaze-medium-explore-v0"]
    assert (recipe.episodes, recipe.episode_steps, recipe.noise) == (10000, 501, 1.0)
    generator = MazeGenerator(recipe, 0, load_expert(data_dir / "experts" / "ant", recipe))
    np.random.seed(0)
    directions, previous = [], None
    for t in range(3 * EXPLORE_EVERY):
        previous = generator.direction(t, previous)
        directions.append(previous)
    blocks = np.asarray(directions).reshape(3, EXPLORE_EVERY, 2)
    assert (blocks == blocks[:, :1]).all() and not np.allclose(blocks[0, 0], blocks[1, 0])


def test_an_explore_dataset_records_no_goals_and_verifies(data_dir, capsys):
    """Explore episodes follow random directions, so no oracle rate is recorded for them, and `crl data
    verify` does not hold them to the 50% that datasets with goals must reach."""
    name = "antmaze-medium-explore-v0"
    train, _ = gen.generate(name, data_dir, episodes=1, progress=False)
    manifest = gen._read_manifest(data_dir, name)
    assert manifest["recipe"]["kind"] == "explore" and "oracle_success_rate" not in manifest
    with np.load(train) as f:
        assert np.flatnonzero(f["terminals"]).tolist() == [500]  # one episode of 501 steps
    assert main(["data", "verify", str(train)]) == 0
    assert "oracle" not in capsys.readouterr().out


def test_a_run_that_is_not_the_robots_expert_is_refused(data_dir, tmp_path):
    with pytest.raises(CrlError, match="is not a humanoid expert .*crl expert train humanoid"):
        gen.generate(
            "humanoidmaze-medium-navigate-v0",
            tmp_path,
            episodes=1,
            experts={"humanoid": data_dir / "experts" / "ant"},
        )


def test_data_list_names_only_the_experts_still_missing(data_dir, capsys):
    assert main(["data", "list", "--data-dir", str(data_dir)]) == 0
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines() if line.strip()}
    assert "yes (with the ant expert in " in rows["antmaze-large-navigate-v0"]
    assert "yes (with the ant expert in " in rows["visual-antmaze-medium-stitch-v0"]
    soccer = rows["antsoccer-arena-stitch-v0"]  # the ant expert is there, the antball one is not
    assert "(`crl expert train antball`)" in soccer and "crl expert train ant`" not in soccer
    assert "generate with an expert (`crl expert train humanoid`)" in rows["humanoidmaze-medium-stitch-v0"]


def test_an_unfinished_expert_makes_no_dataset_until_resumed_to_its_last_step(data_dir, tmp_path, capsys):
    killed = tmp_path / "experts" / "ant"
    shutil.copytree(data_dir / "experts" / "ant", killed)
    shutil.rmtree(killed / "checkpoints" / "2000")  # what a run killed between its two checkpoints leaves
    unfinished = r"unfinished .*\(step 1,000 of 2,000\): finish it with `crl expert train ant --resume`"
    with pytest.raises(CrlError, match=unfinished):
        gen.generate(NAVIGATE, tmp_path, episodes=1, progress=False)
    finish = "(`crl expert train ant --resume`, at step 1,000 of 2,000)"
    assert finish in _list_rows(tmp_path, capsys)[NAVIGATE]
    dataset = "antmaze-large-navigate-v0"
    assert main(["reproduce", "mrcrl-table1", "--dry-run", "--data-dir", str(tmp_path), "--out",
                 str(tmp_path), "--datasets", dataset]) == 0  # fmt: skip
    assert f"generatable once the ant expert is trained {finish}" in capsys.readouterr().out

    assert main(["expert", "train", "ant", "--resume", "--no-progress", "--run-dir", str(killed)]) == 0
    assert "yes (with the ant expert in " in _list_rows(tmp_path, capsys)[NAVIGATE]


def _list_rows(directory, capsys) -> dict[str, str]:
    capsys.readouterr()
    assert main(["data", "list", "--data-dir", str(directory)]) == 0
    return {line.split()[0]: line for line in capsys.readouterr().out.splitlines() if line.strip()}


def test_data_list_and_the_table1_dry_run_name_the_expert_datasets(capsys, tmp_path):
    assert main(["data", "list", "--data-dir", str(tmp_path)]) == 0
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines() if line.strip()}
    assert "generate with an expert (`crl expert train ant`)" in rows["antmaze-large-navigate-v0"]
    assert "(`crl expert train ant`; `crl expert train antball`)" in rows["antsoccer-arena-stitch-v0"]
    assert "generate with an expert (`crl expert train humanoid`)" in rows["humanoidmaze-medium-stitch-v0"]
    datasets = "antmaze-large-navigate-v0,humanoidmaze-medium-stitch-v0"
    assert main(["reproduce", "mrcrl-table1", "--dry-run", "--data-dir", str(tmp_path), "--out",
                 str(tmp_path), "--datasets", datasets]) == 0  # fmt: skip
    lines = [x for x in capsys.readouterr().out.splitlines() if x.startswith("  ")]
    assert len(lines) == 4 and all("generatable once the" in x and "expert is trained" in x for x in lines)


@pytest.fixture(scope="module")
def soccer_dir(data_dir):
    """data_dir with a 2,000-step antball (dribbling) expert beside the ant."""
    assert (
        main(
            ["expert", "train", "antball", *EXPERT_FLAGS, "--run-dir", str(data_dir / "experts" / "antball")]
        )
        == 0
    )
    return data_dir


def test_antsoccer_datasets_use_both_experts_in_the_official_layout(soccer_dir):
    train, _ = gen.generate("antsoccer-arena-stitch-v0", soccer_dir, episodes=8, progress=False)
    with np.load(train) as f:
        arrays = {k: f[k] for k in f.files}
    n = 8 * 201
    shapes = {"observations": (n, 42), "actions": (n, 8), "terminals": (n,), "qpos": (n, 22), "qvel": (n, 20)}
    assert {k: v.shape for k, v in arrays.items()} == shapes
    assert np.flatnonzero(arrays["terminals"]).tolist() == list(range(200, n, 201))
    maze = gymnasium.make("antsoccer-arena-v0").unwrapped
    starts = arrays["qpos"][::201]
    same_cell = [maze.xy_to_ij(s[:2]) == maze.xy_to_ij(s[15:17]) for s in starts]  # ant's and ball's cells
    assert (
        0 < sum(same_cell) < len(same_cell)
    )  # stitch: dribbling episodes (ball with the ant) and walking ones
    assert ogbench.utils.load_dataset(str(train))["observations"].shape == (n - 8, 42)
    manifest = gen._read_manifest(soccer_dir, "antsoccer-arena-stitch-v0")
    assert set(manifest["experts"]) == {"ant", "antball"}
