"""Published numbers of MR-CRL Tables 1 and 3 (success in percent), shipped as package data.

Transcribed from the paper; see the CSVs' notes: Table 1's CRL column is OGBench's (8 seeds) and
its MR-CRL column is over 4 seeds; Table 3's ablations are one seed each (no std published).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from importlib.resources import files


@dataclass(frozen=True)
class Published:
    mean: float
    std: float | None  # None where the paper gives no std
    source: str


def _rows(name: str) -> list[dict[str, str]]:
    text = files("crl.experiments").joinpath("reference", f"{name}.csv").read_text()
    return list(csv.DictReader(text.splitlines()))


@cache
def published() -> dict[tuple[str, str], Published]:
    """(dataset, run label) -> the paper's number; labels as `crl report` names runs."""
    out: dict[tuple[str, str], Published] = {}
    for row in _rows("mrcrl-table3"):
        for variant, cell in row.items():
            if variant != "dataset" and cell:
                label = "mrcrl" if variant == "baseline" else f"mrcrl-{variant}"
                out[(row["dataset"], label)] = Published(float(cell), None, "MR-CRL Table 3")
    for row in _rows("mrcrl-table1"):  # Table 1 publishes stds: it wins over Table 3's baseline column
        for label in ("crl", "mrcrl"):
            mean, std = float(row[f"{label}_mean"]), float(row[f"{label}_std"])
            out[(row["dataset"], label)] = Published(mean, std, "MR-CRL Table 1")
    return out


def table_datasets(name: str) -> list[str]:
    """The datasets of a reference table, in the paper's order."""
    return [row["dataset"] for row in _rows(name)]


def table3_variants() -> list[str]:
    return [v for v in _rows("mrcrl-table3")[0] if v != "dataset"]
