"""OGBench's pixel datasets made locally: frames are what OGBench's visual environment shows, the files
hold the state dataset's trajectories in OGBench's layout, rendering resumes, and crl trains on them."""

import json

import gymnasium
import numpy as np
import ogbench
import pytest

from crl import evaluation
from crl.checksums import sha256
from crl.cli import main
from crl.data import store
from crl.data.generate import generate
from crl.data.npz import write_npz_atomic
from crl.data.verify import verify
from crl.data.visual import STATE_KEYS, frame_chunks, make_renderer
from crl.errors import CrlError
from crl.logs import read_jsonl

PIXELS, STATES = "visual-cube-single-play-v0", "cube-single-play-v0"


def _arrays(path):
    with np.load(path) as f:
        return {k: f[k] for k in f.files}


@pytest.mark.parametrize("family", ["cube-single", "scene"])
def test_frames_are_what_ogbench_visual_environment_shows_at_each_state(family):
    """Step OGBench's state and visual environments side by side: the physics is the same (colours never
    enter it), and rendering the stored states, in any order, gives the visual environment's observations
    exactly (cube draws them one physics step behind, scene does not: both are followed). For scene, the
    button states that colour the buttons are part of the state."""
    state_env, pixel_env = gymnasium.make(f"{family}-v0"), gymnasium.make(f"visual-{family}-v0")
    np.random.seed(3)  # OGBench noises the start with NumPy's global generator
    state_env.reset(seed=3)
    np.random.seed(3)
    frame, info = pixel_env.reset(seed=3)
    frames, infos, rng = [frame], [info], np.random.default_rng(0)
    for _ in range(4):
        action = rng.uniform(-1, 1, 5)
        state_info = state_env.step(action)[-1]
        frame, *_, info = pixel_env.step(action)
        np.testing.assert_array_equal(state_info["qpos"], info["qpos"])
        frames.append(frame)
        infos.append(info)
    states = {k: np.stack([i[k] for i in infos]) for k in STATE_KEYS if k in infos[0]}
    order = np.random.default_rng(1).permutation(len(frames))
    renderer = make_renderer(f"visual-{family}-play-v0")
    rendered = renderer({k: v[order] for k, v in states.items()}, resets=order == 0)
    np.testing.assert_array_equal(rendered, np.stack(frames)[order])
    if "button_states" in states:
        first = {k: v[:1] for k, v in states.items()}
        pressed = first | {"button_states": 1 - first["button_states"]}
        assert not np.array_equal(renderer(pressed), renderer(first))


@pytest.mark.parametrize("maze", ["antmaze-teleport", "humanoidmaze-medium"])
def test_maze_frames_are_what_ogbench_visual_environment_shows_after_each_step(maze):
    """The ant and humanoid draw each frame from the kinematics of a step's last sub-step, which the next
    state alone cannot give (for the ant, rendering the stored state moves pixels by up to 168 levels): crl
    replays each step from the row before. Stepped side by side with the state environment (same physics),
    the rows of two episodes, as a dataset stores them, give back the visual environment's frames."""
    state_env, pixel_env = (
        gymnasium.make(f"{maze}-v0").unwrapped,
        gymnasium.make(f"visual-{maze}-v0").unwrapped,
    )
    rows, frames, rng = {k: [] for k in ("qpos", "qvel", "actions")}, [], np.random.default_rng(0)
    resets = []
    for episode in range(2):
        for env in (state_env, pixel_env):
            np.random.seed(episode)  # OGBench draws the task and start noise from NumPy's global generator
            frame, _ = env.reset(seed=episode)
        for step in range(4):
            action = rng.uniform(-1, 1, pixel_env.action_space.shape)
            for key, value in zip(rows, (pixel_env.data.qpos, pixel_env.data.qvel, action), strict=True):
                rows[key].append(value.copy())
            frames.append(frame)
            resets.append(step == 0)
            state_env.step(action)
            frame = pixel_env.step(action)[0]
            np.testing.assert_array_equal(state_env.data.qpos, pixel_env.data.qpos)
    states = {k: np.stack(v) for k, v in rows.items()}
    rendered = make_renderer(f"visual-{maze}-navigate-v0")(states, np.array(resets))
    np.testing.assert_array_equal(rendered, np.stack(frames))
    assert not np.array_equal(rendered[0], rendered[1])  # the robot moved


def test_chunks_are_runs_of_whole_episodes():
    terminals = np.zeros(10, bool)
    terminals[[2, 5, 6, 9]] = True  # episodes of 3, 3, 1 and 3 rows
    assert frame_chunks(terminals, 4) == [(0, 6), (6, 10)]
    assert frame_chunks(terminals, 1) == [(0, 3), (3, 6), (6, 7), (7, 10)]
    assert frame_chunks(terminals, 100) == [(0, 10)]


def _random_walk(steps: int, episode: int) -> dict[str, np.ndarray]:
    """A state dataset in OGBench's layout: cube-single under random actions, in episodes of `episode`."""
    env, rng = gymnasium.make("cube-single-v0"), np.random.default_rng(0)
    observation, info = env.reset(seed=0)
    rows: dict[str, list] = {k: [] for k in ("observations", "actions", "qpos", "qvel")}
    for _ in range(steps):
        action = rng.uniform(-1, 1, 5).astype(np.float32)
        for key, value in zip(rows, (observation, action, info["qpos"], info["qvel"]), strict=True):
            rows[key].append(value)
        observation, *_, info = env.step(action)
    arrays = {k: np.asarray(v, np.float32) for k, v in rows.items()}
    return arrays | {"terminals": np.arange(steps) % episode == episode - 1}


@pytest.fixture(scope="module")
def pixel_dir(tmp_path_factory):
    """The pixel dataset of a short cube-single state dataset placed as a user places official files (no
    crl manifest): 24 training rows in two episodes and 8 validation rows. Rendering on a CPU is slow
    (BENCHMARKS.md, "Rendering pixel datasets"), hence so few. The validation chunk is planted as if an
    earlier, killed generation had rendered it (all 7s): the generation must keep it."""
    directory = tmp_path_factory.mktemp("pixels")
    write_npz_atomic(directory / f"{STATES}.npz", _random_walk(24, 12))
    write_npz_atomic(directory / f"{STATES}-val.npz", _random_walk(8, 8))
    parts = directory / f".{PIXELS}.parts" / sha256(directory / f"{STATES}.npz")[:16]
    parts.mkdir(parents=True)
    np.save(parts / "split1-row000000000.npy", np.full((8, 64, 64, 3), 7, np.uint8))
    generate(PIXELS, directory, progress=False)
    return directory


def test_a_pixel_dataset_renders_the_state_datasets_trajectories(pixel_dir):
    pixels, states = _arrays(pixel_dir / f"{PIXELS}.npz"), _arrays(pixel_dir / f"{STATES}.npz")
    assert pixels["observations"].shape == (24, 64, 64, 3) and pixels["observations"].dtype == np.uint8
    assert sorted(pixels) == sorted(states)
    for key in ("actions", "terminals", "qpos", "qvel"):
        np.testing.assert_array_equal(pixels[key], states[key], err_msg=key)
    rows = [0, 12, 23]  # the first rows of episodes 1 and 2 (a reset's) and a stepped one
    expected = make_renderer(PIXELS)(
        {k: states[k][rows] for k in ("qpos", "qvel")}, resets=np.array([1, 1, 0])
    )
    np.testing.assert_array_equal(pixels["observations"][rows], expected)
    assert len(np.unique(pixels["observations"].reshape(24, -1), axis=0)) > 12  # the arm moves
    assert (_arrays(pixel_dir / f"{PIXELS}-val.npz")["observations"] == 7).all()  # the finished chunk kept
    assert not (pixel_dir / f".{PIXELS}.parts").exists()
    manifest = json.loads((pixel_dir / f"{PIXELS}.crl.json").read_text())
    assert manifest["source"]["sha256"][f"{STATES}.npz"] == sha256(pixel_dir / f"{STATES}.npz")
    assert verify(pixel_dir / f"{PIXELS}.npz")["checksum"] == "matches the crl manifest"


def test_pixel_files_load_through_ogbench_and_crl(pixel_dir):
    env, train, _ = ogbench.make_env_and_datasets(PIXELS, dataset_dir=str(pixel_dir))
    assert train["observations"].shape == (22, 64, 64, 3) and train["observations"].dtype == np.uint8
    assert env.observation_space.shape == (64, 64, 3)
    loaded = store.load(PIXELS, pixel_dir, progress=False)
    assert loaded.obs_shape == (64, 64, 3) and loaded.train["observations"].dtype == np.uint8
    np.testing.assert_array_equal(loaded.train["observations"], train["observations"])


def test_training_asks_for_a_missing_pixel_dataset_rather_than_rendering_it_for_days(tmp_path):
    with pytest.raises(CrlError, match=f"{PIXELS}.npz not found; render it with `crl data generate {PIXELS}"):
        store.ensure_files(PIXELS, tmp_path)


def test_a_pixel_dataset_refuses_a_state_dataset_made_otherwise(pixel_dir):
    with pytest.raises(CrlError, match=f"renders {STATES}, which is already in .* --episodes 2"):
        generate(PIXELS, pixel_dir, episodes=2, progress=False)  # also for files without a manifest


def test_an_agent_trains_offline_on_pixels_and_is_evaluated_on_goal_images(pixel_dir, tmp_path, monkeypatch):
    """GCBC with the Nature CNN (one CNN: the least compiling of the image agents; CRL's image updates are
    tested in tests/test_images.py) trains on the pixel dataset through the CLI and is evaluated by
    OGBench's protocol in the visual environment, goals given as images. The evaluation episodes are cut
    to 3 steps, since each step renders."""
    short = [gymnasium.make("visual-cube-single-v0", max_episode_steps=3) for _ in range(5)]
    monkeypatch.setitem(evaluation._ENV_POOL, "visual-cube-single-v0", short)
    agent = ["--agent", "gcbc", "--agent.encoder", "nature", "--agent.batch-size", "8", "--agent.hidden", "8"]
    schedule = ["--steps", "20", "--log-every", "10", "--checkpoint-every", "20", "--eval-every", "0",
                "--eval-episodes", "1", "--no-progress"]  # fmt: skip
    where = ["--data-dir", str(pixel_dir), "--run-dir", str(tmp_path)]
    code = main(["train", "--dataset", PIXELS, *where, *agent, *schedule])
    assert code == 0
    metrics = read_jsonl(tmp_path / "metrics.jsonl")
    assert [m["step"] for m in metrics] == [10, 20] and all(np.isfinite(m["actor/loss"]) for m in metrics)
    (result,) = read_jsonl(tmp_path / "eval.jsonl")
    assert result["step"] == 20 and len(result["tasks"]) == 5


def test_a_visual_antmaze_dataset_renders_an_antmaze_dataset_placed_by_the_user(tmp_path):
    """No expert is needed when the state dataset is there: its episodes are rendered as they are, and
    the file loads through ogbench."""
    env, rng = gymnasium.make("antmaze-medium-v0").unwrapped, np.random.default_rng(0)
    for split, episodes in (("", 2), ("-val", 1)):
        rows: dict[str, list] = {k: [] for k in ("observations", "actions", "qpos", "qvel", "terminals")}
        for episode in range(episodes):
            observation, _ = env.reset(seed=episode)
            for step in range(5):
                action = rng.uniform(-1, 1, 8)
                row = (observation, action, env.data.qpos, env.data.qvel, step == 4)
                for key, value in zip(rows, row, strict=True):
                    rows[key].append(np.copy(value))
                observation = env.step(action)[0]
        arrays = {k: np.asarray(v, bool if k == "terminals" else np.float32) for k, v in rows.items()}
        write_npz_atomic(tmp_path / f"antmaze-medium-navigate-v0{split}.npz", arrays)
    generate("visual-antmaze-medium-navigate-v0", tmp_path, progress=False)
    states = _arrays(tmp_path / "antmaze-medium-navigate-v0.npz")
    pixels = _arrays(tmp_path / "visual-antmaze-medium-navigate-v0.npz")
    assert pixels["observations"].shape == (10, 64, 64, 3) and sorted(pixels) == sorted(states)
    resets = np.arange(10) % 5 == 0
    expected = make_renderer("visual-antmaze-medium-navigate-v0")(states, resets)
    np.testing.assert_array_equal(pixels["observations"], expected)
    _, train, val = ogbench.make_env_and_datasets(
        "visual-antmaze-medium-navigate-v0", dataset_dir=str(tmp_path)
    )
    assert train["observations"].shape == (8, 64, 64, 3) and val["observations"].dtype == np.uint8


def test_presets_on_a_pixel_dataset_take_ogbenchs_visual_setting():
    from crl.presets import preset_config

    paper = preset_config("paper", "visual-cube-single-play-v0", "crl")
    assert (paper.agent.encoder, paper.agent.augment, paper.agent.batch_size, paper.steps) == (
        "impala-small",
        0.5,
        256,
        500_000,
    )
    assert paper.agent.alpha == preset_config("paper", "cube-single-play-v0", "crl").agent.alpha == 3.0
    assert preset_config("paper", "visual-antmaze-large-navigate-v0", "crl").agent.alpha == 0.1
    quick = preset_config("quick", "visual-scene-noisy-v0", "gcbc")
    assert (quick.agent.encoder, quick.agent.batch_size, quick.agent.augment) == ("nature", 32, 0.5)
    assert preset_config("quick", "cube-single-play-v0", "crl").agent.encoder == "identity"
