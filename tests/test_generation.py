"""Local generation of OGBench datasets: every family, parallel, resumable, verified."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import ogbench
import pytest

from crl.data import generate as gen
from crl.data.generate import generate
from crl.data.verify import verify
from crl.errors import CrlError


def _arrays(path):
    with np.load(path) as f:
        return {k: f[k] for k in f.files}


def test_one_and_two_workers_give_identical_files(tmp_path):
    kw = dict(episodes=4, seed=7, progress=False, chunk_episodes=1)
    one = generate("pointmaze-large-stitch-v0", tmp_path / "one", workers=1, **kw)
    two = generate("pointmaze-large-stitch-v0", tmp_path / "two", workers=2, **kw)
    for a, b in zip(one, two, strict=True):
        assert a.read_bytes() == b.read_bytes()
        arrays = _arrays(a)
        assert arrays["observations"].shape[0] in (4 * 201, 1 * 201)


def test_chunking_does_not_change_the_result(tmp_path):
    a = generate("pointmaze-medium-navigate-v0", tmp_path / "a", episodes=3, progress=False, chunk_episodes=1)
    b = generate("pointmaze-medium-navigate-v0", tmp_path / "b", episodes=3, progress=False, chunk_episodes=2)
    assert a[0].read_bytes() == b[0].read_bytes()


def test_a_killed_generation_resumes_to_the_same_file(tmp_path):
    name, episodes = "pointmaze-medium-navigate-v0", 40
    reference = generate(name, tmp_path / "ref", episodes=episodes, progress=False, chunk_episodes=1)
    killed = tmp_path / "killed"
    code = (
        "from pathlib import Path; from crl.data.generate import generate; "
        f"generate({name!r}, Path({str(killed)!r}), episodes={episodes}, progress=False, chunk_episodes=1)"
    )
    proc = subprocess.Popen([sys.executable, "-c", code])
    parts = killed / f".{name}.parts"
    deadline = time.time() + 120
    while time.time() < deadline and len(list(parts.glob("*/*.npz"))) < 5:
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = len(list(parts.glob("*/*.npz")))
    assert 5 <= done_before < episodes + 4, "the generation finished before it could be killed"
    assert not (killed / f"{name}.npz").exists()  # nothing under the final name while unfinished
    resumed = generate(name, killed, episodes=episodes, progress=False, chunk_episodes=1)
    for a, b in zip(reference, resumed, strict=True):
        assert a.read_bytes() == b.read_bytes()
    assert not parts.exists()  # parts are cleaned up once the dataset is whole


def test_a_run_needing_a_dataset_another_process_is_generating_waits_and_uses_its_files(tmp_path):
    name = "pointmaze-medium-navigate-v0"
    maker = (  # holds the dataset's lock as a generating process does, and generates it when told to
        "import sys; from pathlib import Path; from crl.data.generate import generate; "
        "from crl.locks import dataset_lock\n"
        f"with dataset_lock(Path({str(tmp_path)!r}), {name!r}):\n"
        "    print('generating', flush=True); sys.stdin.readline()\n"
        f"    generate({name!r}, Path({str(tmp_path)!r}), episodes=2, progress=False)"
    )
    user = (
        f"from pathlib import Path; from crl.data.store import ensure_files; ensure_files({name!r}, "
        f"Path({str(tmp_path)!r}), progress=False)"
    )  # what `crl train` does first (default: 1,000 episodes)
    pipes = dict(stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    making = subprocess.Popen([sys.executable, "-c", maker], **pipes)
    assert making.stdout.readline() == "generating\n"
    using = subprocess.Popen([sys.executable, "-c", user], **pipes)
    assert "is generating pointmaze-medium-navigate-v0" in using.stdout.readline()  # it waits
    assert using.poll() is None and not list(tmp_path.glob("*.npz"))
    making.communicate("\n", timeout=120)
    out, _ = using.communicate(timeout=120)
    assert making.returncode == using.returncode == 0, out
    assert "generating it locally" not in out  # it read the files the other process made: 2 episodes
    assert _arrays(tmp_path / f"{name}.npz")["terminals"].sum() == 2


def test_a_dataset_already_made_with_the_same_settings_is_kept_not_made_again(tmp_path, monkeypatch):
    name, made, real = "pointmaze-medium-navigate-v0", [], gen.generate_chunk
    train, val = generate(name, tmp_path, episodes=2, progress=False)
    reference = train.read_bytes()
    monkeypatch.setattr(gen, "generate_chunk", lambda *job: made.append(job[2:4]) or real(*job))
    assert generate(name, tmp_path, episodes=2, progress=False) == (train, val) and made == []
    val.unlink()  # a file gone: made again
    generate(name, tmp_path, episodes=2, progress=False)
    assert made == [(0, 0), (1, 0)] and train.read_bytes() == reference
    made.clear()
    generate(name, tmp_path, episodes=3, progress=False)  # other settings: made again
    assert made and _arrays(train)["terminals"].sum() == 3


FULL = os.environ.get("CRL_TEST_SCALE") == "full"
_IN_FULL = pytest.mark.skipif(not FULL, reason="CRL_TEST_SCALE=full; CI's reduced form: pointmaze and scene")


@pytest.mark.slow
@pytest.mark.parametrize(
    "name, singletask",
    [
        ("pointmaze-medium-stitch-v0", "pointmaze-medium-stitch-singletask-v0"),
        pytest.param("cube-single-play-v0", "cube-single-play-singletask-v0", marks=_IN_FULL),
        ("scene-noisy-v0", "scene-noisy-singletask-v0"),  # the manipulation family with every object kind
        pytest.param("puzzle-3x3-play-v0", "puzzle-3x3-play-singletask-v0", marks=_IN_FULL),
    ],
)
def test_each_family_loads_through_ogbench_and_verifies(name, singletask, tmp_path):
    episodes = 10 if name.startswith("pointmaze") else 1
    train, val = generate(name, tmp_path, episodes=episodes, progress=False)
    for compact in (False, True):
        env, tr, va = ogbench.make_env_and_datasets(name, dataset_dir=str(tmp_path), compact_dataset=compact)
        assert tr["observations"].shape[1:] == env.observation_space.shape
        assert ("valids" in tr) == compact
    _, tr, _ = ogbench.make_env_and_datasets(singletask, dataset_dir=str(tmp_path))
    assert "rewards" in tr and len(tr["rewards"]) == len(tr["observations"])
    for path in (train, val):
        summary = verify(path)
        assert summary["dataset"] == name and summary["checksum"] == "matches the crl manifest"
    manifest = json.loads((tmp_path / f"{name}.crl.json").read_text())
    assert manifest["oracle_success_rate"] >= 0.5 and manifest["episodes"] == episodes
    if name.startswith(("scene", "puzzle")):
        assert "button_states" in _arrays(train)


@pytest.fixture
def small_copy(tmp_path):
    directory = tmp_path / "data"
    generate("pointmaze-medium-stitch-v0", directory, episodes=10, progress=False)
    return directory / "pointmaze-medium-stitch-v0.npz"


def test_verify_rejects_a_truncated_episode(small_copy):
    arrays = _arrays(small_copy)
    cut = np.r_[0:300, 310 : len(arrays["terminals"])]  # drop 10 steps from the middle of episode 1
    np.savez(small_copy, **{k: v[cut] for k, v in arrays.items()})
    with pytest.raises(CrlError, match="episode 1 has 191 steps but the recipe gives 201"):
        verify(small_copy)


def test_verify_rejects_a_wrong_size(small_copy):
    arrays = _arrays(small_copy)
    arrays["observations"] = np.concatenate([arrays["observations"], arrays["observations"][:, :1]], 1)
    np.savez(small_copy, **arrays)
    with pytest.raises(
        CrlError, match=r"observations have shape \(3,\) but pointmaze-medium-v0 gives \(2,\)"
    ):
        verify(small_copy)


def test_verify_rejects_a_modified_file_by_checksum(small_copy):
    arrays = _arrays(small_copy)
    arrays["actions"][5] *= 0.5
    np.savez_compressed(small_copy, **arrays)
    with pytest.raises(CrlError, match="does not match the checksum"):
        verify(small_copy)


def test_verify_rejects_a_missing_episode(small_copy):
    arrays = _arrays(small_copy)
    np.savez(small_copy, **{k: v[201:] for k, v in arrays.items()})
    with pytest.raises(CrlError, match="holds 9 episodes but its spec gives 10"):
        verify(small_copy)


def test_locomotion_datasets_are_not_generated_without_experts(tmp_path):
    for name in ("antmaze-medium-navigate-v0", "antsoccer-arena-navigate-v0"):
        with pytest.raises(CrlError, match="driven by the ant expert, which is not in .*expert train ant"):
            generate(name, tmp_path)
    with pytest.raises(CrlError, match="driven by the ant expert"):  # its state dataset needs one
        generate("visual-antmaze-medium-navigate-v0", tmp_path)
    name = "powderworld-easy-play-v0"
    with pytest.raises(CrlError, match=f"crl cannot make {name} here.*crl data download {name}"):
        generate(name, tmp_path)
