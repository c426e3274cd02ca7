"""The antsoccer oracle's rules, with scripted experts in place of trained ones."""

import numpy as np

from crl.data.antsoccer import STUCK_STEPS, SoccerGenerator, SoccerRecipe

STILL = {"ant": lambda ob, direction: np.zeros(8), "antball": lambda ob, offsets: np.zeros(8)}


def test_a_stuck_ant_walks_to_a_random_cell_after_150_steps_as_ogbench_does():
    generator = SoccerGenerator(SoccerRecipe("arena", "navigate", 1, STUCK_STEPS + 10), seed=0, experts=STILL)
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


def test_a_stitch_episode_succeeds_at_its_own_task_walking_ant_or_dribbled_ball():
    generator = SoccerGenerator(SoccerRecipe("arena", "stitch", 8, 20), seed=0, experts=STILL)
    maze, reset = generator.maze, generator.env.reset

    def goal_on_the_ant(**kwargs):
        ob, info = reset(**kwargs)
        maze.set_goal(goal_xy=ob[:2])
        return ob, info

    kinds = {"walk": [], "dribble": []}
    for index in range(8):
        elsewhere = generator.episode(split=0, index=index)[1]  # the goal in a cell of its own
        generator.env.reset = goal_on_the_ant
        episode, on_the_ant = generator.episode(split=0, index=index)
        generator.env.reset = reset
        ant, ball = episode["qpos"][:, :2], episode["qpos"][:, 15:17]
        dribbling = maze.xy_to_ij(ant[0]) == maze.xy_to_ij(ball[0])
        ball_off_goal = np.linalg.norm(ball - ant[0], axis=1).min() > 0.5  # the goal is where the ant began
        kinds["dribble" if dribbling else "walk"].append((elsewhere, on_the_ant, ball_off_goal))
    assert kinds["walk"] and kinds["dribble"]
    assert all(r == (0, 1, True) for r in kinds["walk"])  # the still ant is at a goal put on it
    assert all((e, o) == (0, 0) for e, o, off in kinds["dribble"] if off)  # a ball off the goal fails
