"""Reading OGBench `.npz` files: validation with one-line errors, and OGBench's two in-memory layouts.

A file stores whole trajectories back to back: `observations[i]`, `actions[i]` and `terminals[i]`,
with `terminals` set on the last entry of each trajectory. The last entry's action has no next
state, so the *regular* layout drops it and adds `next_observations`; the *compact* layout keeps
every state and marks usable transitions with `valids`. Both match `ogbench.load_dataset`.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from crl.errors import CrlError

REQUIRED_KEYS = ("observations", "actions", "terminals")
INFO_KEYS = ("qpos", "qvel", "button_states")


def read_npz(path: str | Path, fix_hint: str = "") -> dict[str, np.ndarray]:
    """Read and validate a raw OGBench file; raise CrlError naming the first problem found."""
    path = Path(path)
    hint = f"; {fix_hint}" if fix_hint else ""
    if not path.exists():
        raise CrlError(f"dataset file {path} not found{hint}")
    try:
        with np.load(path, allow_pickle=False) as file:
            missing = [k for k in REQUIRED_KEYS if k not in file.files]
            if missing:
                raise CrlError(
                    f"{path} lacks {', '.join(missing)}: an OGBench dataset holds observations, actions "
                    f"and terminals{hint}"
                )
            arrays = {k: file[k] for k in (*REQUIRED_KEYS, *INFO_KEYS) if k in file.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        raise CrlError(
            f"{path} is not a readable .npz file ({exc}); delete it and make it again{hint}"
        ) from None
    _check_arrays(path, arrays, hint)
    return arrays


def _check_arrays(path: Path, arrays: dict[str, np.ndarray], hint: str) -> None:
    lengths = {k: len(v) for k, v in arrays.items()}
    if len(set(lengths.values())) > 1:
        shown = ", ".join(f"{k} {n}" for k, n in lengths.items())
        raise CrlError(f"{path}: arrays have different lengths ({shown}); the file is corrupt{hint}")
    if lengths["observations"] == 0:
        raise CrlError(f"{path} holds no transitions{hint}")
    for key in ("observations", "actions", "qpos", "qvel"):
        if key in arrays and np.issubdtype(arrays[key].dtype, np.floating):
            bad = ~np.isfinite(arrays[key])
            if bad.any():
                row = int(np.argwhere(bad)[0][0])
                raise CrlError(
                    f"{path}: '{key}' holds NaN or inf (first at row {row}); the file is corrupt{hint}"
                )
    terminals = arrays["terminals"]
    odd = np.flatnonzero((terminals != 0) & (terminals != 1))
    if odd.size:
        row = int(odd[0])
        raise CrlError(
            f"{path}: 'terminals' holds {terminals.flat[row].item()!r} at row {row}; it must be 0 or 1 "
            f"(1 on each trajectory's last entry){hint}"
        )
    if not terminals.any():
        raise CrlError(
            f"{path}: 'terminals' marks no trajectory end, so trajectories cannot be told apart{hint}"
        )
    if not terminals[-1]:
        raise CrlError(f"{path}: the last entry is not a trajectory end (a truncated file?){hint}")


def to_layout(arrays: dict[str, np.ndarray], compact: bool = False) -> dict[str, np.ndarray]:
    """OGBench's regular layout (with next_observations) or compact layout (with valids), as float32."""
    obs = arrays["observations"]
    obs = obs if obs.dtype == np.uint8 else obs.astype(np.float32, copy=False)
    actions = arrays["actions"].astype(np.float32, copy=False)
    terminals = arrays["terminals"].astype(np.float32)
    infos = {k: arrays[k] for k in INFO_KEYS if k in arrays}
    shifted = np.concatenate([terminals[1:], [1.0]]).astype(np.float32)  # the entry before each end
    if compact:
        return dict(
            observations=obs,
            actions=actions,
            terminals=np.minimum(terminals + shifted, 1.0).astype(np.float32),
            valids=1.0 - terminals,
            **infos,
        )
    keep = ~terminals.astype(bool)
    return dict(
        observations=obs[keep],
        actions=actions[keep],
        next_observations=obs[np.concatenate([[False], keep[:-1]])],
        terminals=shifted[keep],
        **{k: v[keep] for k, v in infos.items()},
    )


def check_spaces(
    path: Path, arrays: dict[str, np.ndarray], env_id: str, obs_shape: tuple, action_dim: int
) -> None:
    """Raise if the file's observation or action size differs from the environment's."""
    got_obs = tuple(arrays["observations"].shape[1:])
    if got_obs != tuple(obs_shape):
        raise CrlError(
            f"{path}: observations have shape {got_obs} but {env_id} gives {tuple(obs_shape)}; "
            "the file belongs to another environment"
        )
    got_act = arrays["actions"].shape[1] if arrays["actions"].ndim == 2 else 1
    if got_act != action_dim:
        raise CrlError(
            f"{path}: actions have {got_act} dims but {env_id} takes {action_dim}; "
            "the file belongs to another environment"
        )
