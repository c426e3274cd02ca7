import numpy as np
import ogbench
import pytest

from crl.data.dataset import check_spaces, read_npz, to_layout
from crl.data.names import check_dataset_name, env_name
from crl.errors import CrlError


def _arrays(n_traj=3, length=5, obs_dim=2):
    n = n_traj * length
    rng = np.random.default_rng(0)
    terminals = np.zeros(n, bool)
    terminals[length - 1 :: length] = True
    return {
        "observations": rng.normal(size=(n, obs_dim)).astype(np.float32),
        "actions": rng.uniform(-1, 1, size=(n, 2)).astype(np.float32),
        "terminals": terminals,
        "qpos": rng.normal(size=(n, 2)).astype(np.float32),
    }


def _write(tmp_path, arrays, name="data.npz"):
    path = tmp_path / name
    np.savez(path, **arrays)
    return path


def test_a_valid_file_reads(tmp_path):
    arrays = read_npz(_write(tmp_path, _arrays()))
    assert arrays["observations"].shape == (15, 2)


@pytest.mark.parametrize("compact", [False, True])
def test_layouts_match_ogbench_loader(tmp_path, compact):
    path = _write(tmp_path, _arrays())
    ours = to_layout(read_npz(path), compact=compact)
    theirs = ogbench.load_dataset(str(path), compact_dataset=compact, add_info=True)
    assert set(ours) == set(theirs)
    for key in theirs:
        np.testing.assert_array_equal(ours[key], theirs[key], err_msg=key)


def test_missing_file(tmp_path):
    with pytest.raises(CrlError, match="not found; make it"):
        read_npz(tmp_path / "nope.npz", fix_hint="make it")


def test_not_a_zip(tmp_path):
    path = tmp_path / "bad.npz"
    path.write_bytes(b"this is not a zip archive at all")
    with pytest.raises(CrlError, match="not a readable .npz"):
        read_npz(path)


def test_truncated_zip(tmp_path):
    path = _write(tmp_path, _arrays())
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(CrlError, match="not a readable .npz"):
        read_npz(path)


def test_missing_keys(tmp_path):
    arrays = _arrays()
    del arrays["actions"]
    with pytest.raises(CrlError, match="lacks actions"):
        read_npz(_write(tmp_path, arrays))


def test_different_lengths(tmp_path):
    arrays = _arrays()
    arrays["actions"] = arrays["actions"][:-1]
    with pytest.raises(CrlError, match="different lengths"):
        read_npz(_write(tmp_path, arrays))


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_non_finite_values(tmp_path, value):
    arrays = _arrays()
    arrays["observations"][7, 1] = value
    with pytest.raises(CrlError, match="NaN or inf \\(first at row 7\\)"):
        read_npz(_write(tmp_path, arrays))


def test_empty_dataset(tmp_path):
    arrays = {k: v[:0] for k, v in _arrays().items()}
    with pytest.raises(CrlError, match="holds no transitions"):
        read_npz(_write(tmp_path, arrays))


def test_no_trajectory_boundaries(tmp_path):
    arrays = _arrays()
    arrays["terminals"][:] = False
    with pytest.raises(CrlError, match="marks no trajectory end"):
        read_npz(_write(tmp_path, arrays))


def test_unterminated_last_trajectory(tmp_path):
    arrays = {k: v[:-2] for k, v in _arrays().items()}
    with pytest.raises(CrlError, match="last entry is not a trajectory end"):
        read_npz(_write(tmp_path, arrays))


def test_observation_size_mismatch(tmp_path):
    path = _write(tmp_path, _arrays(obs_dim=3))
    with pytest.raises(
        CrlError, match=r"observations have shape \(3,\) but pointmaze-medium-v0 gives \(2,\)"
    ):
        check_spaces(path, read_npz(path), "pointmaze-medium-v0", (2,), 2)


def test_action_size_mismatch(tmp_path):
    path = _write(tmp_path, _arrays())
    with pytest.raises(CrlError, match="actions have 2 dims but antmaze-large-v0 takes 8"):
        check_spaces(path, read_npz(path), "antmaze-large-v0", (2,), 8)


def test_dataset_names():
    assert env_name("pointmaze-medium-navigate-v0") == "pointmaze-medium-v0"
    assert env_name("cube-single-play-v0") == "cube-single-v0"
    assert env_name("puzzle-4x4-noisy-v0") == "puzzle-4x4-v0"
    with pytest.raises(CrlError, match="did you mean pointmaze-medium-navigate-v0"):
        check_dataset_name("pointmaze-medum-navigate-v0")


@pytest.mark.parametrize("value", [2.0, -1.0, 0.5])
def test_terminals_other_than_0_and_1_are_named(tmp_path, value):
    arrays = _arrays()
    arrays["terminals"] = arrays["terminals"].astype(np.float32)
    arrays["terminals"][7] = value
    with pytest.raises(CrlError, match=rf"'terminals' holds {value!r} at row 7; it must be 0 or 1"):
        read_npz(_write(tmp_path, arrays))
