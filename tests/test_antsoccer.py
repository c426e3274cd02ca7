"""The antsoccer oracle's rules, with scripted experts in place of trained ones."""

import numpy as np

from crl.data.antsoccer import STUCK_STEPS, SoccerGenerator, SoccerRecipe


def test_a_stuck_ant_walks_to_a_random_cell_after_150_steps_as_ogbench_does():
    still = {"ant": lambda ob, direction: np.zeros(8), "antball": lambda ob, offsets: np.zeros(8)}
    generator = SoccerGenerator(SoccerRecipe("arena", "navigate", 1, STUCK_STEPS + 10), seed=0, experts=still)
    targets = []
    walk = generator.walk
    generator.walk = lambda ob, target: targets.append(np.array(target)) or walk(ob, target)
    episode, _ = generator.episode(split=0, index=0)

    ball = np.asarray(generator.maze.get_agent_ball_xy()[1])
    to_ball = [np.linalg.norm(t - ball) < 0.1 for t in targets]
    # OGBench's test runs after step 151 (over the 150 positions before it); the detour starts at the next
    assert all(to_ball[: STUCK_STEPS + 2]) and not any(to_ball[STUCK_STEPS + 2 :])
    cell = generator.maze.xy_to_ij(targets[-1])
    assert np.allclose(targets[-1], generator.maze.ij_to_xy(cell)) and cell in generator.cells
    positions = episode["observations"][:, :2]
    assert np.linalg.norm(positions - positions[0], axis=1).max() < 2  # the scripted ant stood still
