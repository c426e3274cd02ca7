"""Reading finished runs back: each seed's score (the mean overall success of its last K evaluations)
and its success curve."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from crl.config import agent_name, to_dict
from crl.errors import CrlError
from crl.experiments.sweep import MANIFEST, Arm
from crl.logs import read_jsonl
from crl.presets import scored_evals
from crl.train import read_config


@dataclass
class SeedResult:
    dataset: str
    label: str
    seed: int
    run_dir: Path
    steps: int
    score: float | None  # mean overall success (percent) of the scored evaluations; None while unfinished
    curve: list[tuple[int, float]] = field(default_factory=list)  # (update, overall success %)
    setup: dict = field(default_factory=dict)  # the config, less what differs between seeds
    scored_steps: tuple[int, ...] = ()  # the updates whose evaluations make the score


def _setup(config_dict: dict) -> dict:
    return {k: v for k, v in config_dict.items() if k not in ("seed", "run_dir", "resume", "progress")}


def read_run(run_dir: Path, last: int | None = None, label: str | None = None) -> SeedResult:
    """A run's curve and score: the mean of its last `last` evaluations (default: its preset's K), once
    it has an evaluation at its final update; fewer when the run has fewer. `label`: its sweep's name for
    its arm (default: agent and variant)."""
    config = read_config(run_dir)
    arm = Arm(agent_name(config.agent), config.preset, getattr(config.agent, "variant", None), name=label)
    evals = read_jsonl(run_dir / "eval.jsonl")
    curve = sorted({r["step"]: 100.0 * r["overall"] for r in evals}.items())
    finished = bool(curve) and curve[-1][0] == config.steps
    scored = curve[-(last or scored_evals(config.preset)) :] if finished else []
    score = sum(s for _, s in scored) / len(scored) if scored else None
    setup, scored_steps = _setup(to_dict(config)), tuple(step for step, _ in scored)
    return SeedResult(
        config.env or config.dataset,
        arm.label,
        config.seed,
        run_dir,
        config.steps,
        score,
        curve,
        setup,
        scored_steps,
    )


def sweep_labels(root: Path) -> dict[Path, str]:
    """Run directory -> the label its sweep gave its arm (OUT/sweep.json), for the runs under `root`."""
    path = root / MANIFEST
    if not path.exists():
        return {}
    try:
        runs = json.loads(path.read_text())["runs"]
    except (json.JSONDecodeError, KeyError) as exc:
        raise CrlError(f"{path} is unreadable ({exc}); move it away to report without its labels") from None
    return {(root / key).absolute(): run["label"] for key, run in runs.items()}


def collect(root: Path, last: int | None = None) -> list[SeedResult]:
    """Every single-seed run directory under `root` (a multi-seed group's own config is skipped: its
    seeds are runs of their own). Two runs of one (dataset, label, seed), or seeds of one (dataset,
    label) trained with different settings, are an error: their numbers must not be mixed."""
    results = []
    labels = sweep_labels(root)
    for path in sorted(root.rglob("config.json")):
        if read_config(path.parent).seeds == 1:
            label = labels.get(path.parent.absolute()) or labels.get(path.parent.parent.absolute())
            results.append(read_run(path.parent, last, label))
    if not results:
        raise CrlError(f"no crl run directories under {root}: pass the --out of a sweep or a runs folder")
    seen: dict[tuple, SeedResult] = {}
    for r in results:
        key = (r.dataset, r.label, r.seed)
        if key in seen:
            raise CrlError(
                f"{seen[key].run_dir} and {r.run_dir} are both {r.dataset} {r.label} seed {r.seed}; "
                "move one out of the report's directory"
            )
        seen[key] = r
    first: dict[tuple, SeedResult] = {}
    for r in results:
        other = first.setdefault((r.dataset, r.label), r)
        if other.setup != r.setup:
            diff = sorted(k for k in r.setup if r.setup[k] != other.setup.get(k))
            raise CrlError(
                f"{other.run_dir} and {r.run_dir} ({r.dataset} {r.label}) differ in {', '.join(diff)}; "
                "report them from separate directories"
            )
    return results
