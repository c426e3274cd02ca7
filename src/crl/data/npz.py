"""Writing .npz files atomically (readers see the old file or the whole new one), whole or piece by piece.

A pixel dataset's frames are several times the memory a laptop has (1M 64x64x3 frames: 12.3 GB), so
they are written in consecutive pieces along the first axis, one piece in memory at a time. The file is
what `np.savez_compressed` writes for the concatenated arrays, and `np.load` reads it as usual.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np


@contextmanager
def _atomic(path: Path) -> Iterator[Path]:
    """A temporary path beside `path`, renamed to it when the block succeeds and removed otherwise."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_npz_atomic(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """np.savez_compressed(path, **arrays), atomically."""
    with _atomic(path) as tmp, open(tmp, "wb") as file:
        np.savez_compressed(file, **arrays)
        file.flush()
        os.fsync(file.fileno())


Pieces = tuple[tuple[int, ...], np.dtype, Iterable[np.ndarray]]  # shape, dtype, pieces along axis 0


def write_npz_pieces(path: Path, arrays: dict[str, Pieces]) -> None:
    """np.savez_compressed of arrays given as consecutive pieces along their first axis, holding one piece
    in memory at a time; atomically. Raises ValueError if the pieces do not add up to the shape given."""
    with _atomic(path) as tmp:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name, (shape, dtype, pieces) in arrays.items():
                with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
                    header = {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)),
                              "fortran_order": False, "shape": tuple(shape)}  # fmt: skip
                    np.lib.format.write_array_header_2_0(member, header)
                    rows = 0
                    for piece in pieces:
                        piece = np.ascontiguousarray(piece, dtype=dtype)
                        if piece.shape[1:] != tuple(shape[1:]):
                            raise ValueError(f"{name}: a piece of shape {piece.shape} in an array of {shape}")
                        member.write(piece.tobytes())
                        rows += len(piece)
                    if rows != shape[0]:
                        raise ValueError(f"{name}: pieces hold {rows} rows, the array {shape[0]}")
        with open(tmp, "rb+") as file:
            os.fsync(file.fileno())
