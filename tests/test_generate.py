import numpy as np
import ogbench

from crl.data.generate import generate
from crl.data.locomaze import RECIPES, MazeGenerator, cells_at_distance, goal_cells
from tests.conftest import DATASET


def test_generated_files_load_through_ogbench(tiny_data_dir):
    env, train, val = ogbench.make_env_and_datasets(DATASET, dataset_dir=str(tiny_data_dir))
    assert train["observations"].shape == (40 * 1000, 2)  # 40 episodes of 1001 states -> 1000 transitions
    assert val["observations"].shape == (4 * 1000, 2)
    assert env.observation_space.shape == (2,)
    assert np.abs(train["actions"]).max() <= 1.0
    # Within a trajectory, each next observation is the following row's observation.
    inner = train["terminals"][:-1] == 0
    np.testing.assert_array_equal(train["next_observations"][:-1][inner], train["observations"][1:][inner])
    assert train["terminals"].sum() == 40


def test_generation_is_deterministic_per_seed(tmp_path):
    a = generate(DATASET, tmp_path / "a", episodes=2, seed=3, progress=False)
    b = generate(DATASET, tmp_path / "b", episodes=2, seed=3, progress=False)
    c = generate(DATASET, tmp_path / "c", episodes=2, seed=4, progress=False)
    for pa, pb, pc in zip(a, b, c, strict=True):
        fa, fb, fc = np.load(pa), np.load(pb), np.load(pc)
        for key in fa.files:
            np.testing.assert_array_equal(fa[key], fb[key])
        assert not np.array_equal(fa["observations"], fc["observations"])


def test_episode_does_not_depend_on_what_came_before():
    used = MazeGenerator(RECIPES[DATASET], seed=0)
    used.episode(0, 1)  # leaves the environment and the generators' streams where episode 1 ended
    after = used.episode(0, 5)[0]
    alone = MazeGenerator(RECIPES[DATASET], seed=0).episode(0, 5)[0]
    for key in alone:
        np.testing.assert_array_equal(after[key], alone[key], err_msg=key)


def test_noisy_oracle_navigates_between_goals():
    gen = MazeGenerator(RECIPES[DATASET], seed=0)
    episode, reached = gen.episode(0, 0)
    # The oracle with noise 0.5 still travels: over 1000 steps it covers several maze cells and goals.
    cells = {gen.maze.xy_to_ij(xy) for xy in episode["observations"]}
    assert len(cells) >= 6 and reached >= 2


def test_stitch_goals_are_four_cells_away():
    maze = MazeGenerator(RECIPES["pointmaze-medium-stitch-v0"], seed=0).maze.maze_map
    found = cells_at_distance(maze, (1, 1), 4)
    assert found  # medium maze: from (1,1) there are cells 4 steps away
    for i, j in found:
        assert maze[i, j] == 0
        assert abs(i - 1) + abs(j - 1) <= 4


def test_goal_cells_exclude_straight_corridors():
    maze = MazeGenerator(RECIPES[DATASET], seed=0).maze.maze_map
    goals = set(goal_cells(maze))
    for i, j in goals:
        assert maze[i, j] == 0
    free = {(int(i), int(j)) for i, j in zip(*np.nonzero(maze == 0), strict=True)}
    corridors = free - goals
    for i, j in corridors:
        vertical = maze[i - 1, j] == 0 and maze[i + 1, j] == 0 and maze[i, j - 1] == 1 and maze[i, j + 1] == 1
        horizontal = (
            maze[i, j - 1] == 0 and maze[i, j + 1] == 0 and maze[i - 1, j] == 1 and maze[i + 1, j] == 1
        )
        assert vertical or horizontal
