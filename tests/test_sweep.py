"""Sweeps: the grid, the manifest's guard against mixed runs, resuming an interrupted sweep, the Ray
backend on a local cluster, and `crl reproduce --dry-run`."""

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time

import pytest

from crl.cli import main
from crl.config import to_dict
from crl.errors import CrlError
from crl.experiments import sweep as sw
from crl.experiments.results import collect
from crl.logs import read_jsonl
from crl.train import read_config
from tests.conftest import DATASET

TINY = ["--agent.batch-size", "32", "--agent.hidden", "32", "32", "--agent.latent-dim", "16", "--no-progress"]


def _sweep_command(out, data_dir, *flags):
    return [sys.executable, "-m", "crl.cli", "sweep", "--datasets", DATASET, "--agents", "crl",
            "--out", str(out), "--data-dir", str(data_dir), *flags, *TINY]  # fmt: skip


def _final_step_done(seed_dir, steps):
    return any(r["step"] == steps for r in read_jsonl(seed_dir / "eval.jsonl"))


def _saved_steps(seed_dir):
    checkpoints = seed_dir / "checkpoints"
    return [p for p in checkpoints.iterdir() if p.name.isdigit()] if checkpoints.is_dir() else []


def test_grid_expands_into_one_directory_per_seed(tmp_path):
    arms = sw.arms_for(
        ["crl", "mrcrl"], ["baseline", "l2-loss"], sw.parse_presets("crl=paper,mrcrl=mrcrl-paper")
    )
    assert [(a.label, a.preset) for a in arms] == [
        ("crl", "paper"), ("mrcrl", "mrcrl-paper"), ("mrcrl-l2-loss", "mrcrl-paper")
    ]  # fmt: skip
    datasets = ["cube-single-play-v0", "scene-play-v0"]
    together = sw.expand(tmp_path, datasets, arms, range(3), True, ["--steps", "10"])
    separate = sw.expand(tmp_path, datasets, arms, range(3), False, ["--steps", "10"])
    assert len(together) == 6 and len(separate) == 18
    seed_dirs = sorted(d for r in together for d in r.seed_dirs)
    assert [d.relative_to(tmp_path).parts for d in seed_dirs] == sorted(
        (*r.run_dir.relative_to(tmp_path).parts[:2], "seeds0-2", r.run_dir.name) for r in separate
    )
    assert tmp_path / "scene-play-v0" / "mrcrl-l2-loss" / "seeds0-2" / "seed2" in seed_dirs
    config = sw.run_config(together[2])
    assert (config.agent.variant, config.steps, config.seeds, config.preset) == (
        "l2-loss",
        10,
        3,
        "mrcrl-paper",
    )
    assert to_dict(config)["agent"]["name"] == "mrcrl" and config.data_dir.is_absolute()


def test_flags_the_sweep_sets_and_changed_flags_are_refused(tmp_path):
    arms = sw.arms_for(["crl"], [], {})
    with pytest.raises(CrlError, match="--run-dir is set by crl sweep"):
        sw.expand(tmp_path, [DATASET], arms, [0], True, ["--run-dir", "x"])
    sw.update_manifest(tmp_path, sw.expand(tmp_path, [DATASET], arms, [0], True, ["--steps", "40"]))
    with pytest.raises(CrlError, match=r"started with other flags \(--steps 40 -> 50\)"):
        sw.update_manifest(tmp_path, sw.expand(tmp_path, [DATASET], arms, [0], True, ["--steps", "50"]))
    with pytest.raises(CrlError, match="unknown variant 'l3-loss'"):
        sw.check_names([DATASET], ["mrcrl"], ["l3-loss"])


def test_an_interrupted_sweep_finishes_only_what_was_missing(tiny_data_dir, tmp_path):
    out, steps = tmp_path / "sweep", 120
    schedule = ["--seeds", "3", "--separate-seeds", "--steps", str(steps), "--log-every", "20",
                "--checkpoint-every", "40", "--eval-every", "0", "--eval-episodes", "1"]  # fmt: skip
    command = _sweep_command(out, tiny_data_dir, *schedule)
    seed_dirs = [out / DATASET / "crl" / f"seed{s}" for s in range(3)]
    process = subprocess.Popen(
        command, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.time() + 300
    try:  # kill the whole sweep once seed 0 is done and seed 1 has a checkpoint
        while not (_final_step_done(seed_dirs[0], steps) and _saved_steps(seed_dirs[1])):
            assert process.poll() is None, process.stderr.read().decode()
            assert time.time() < deadline
            time.sleep(0.02)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    assert not _final_step_done(seed_dirs[1], steps) and not (seed_dirs[2] / "metrics.jsonl").exists()
    finished_metrics = (seed_dirs[0] / "metrics.jsonl").read_bytes()

    rerun = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    assert "3 runs (1 finished, skipped; 1 to resume; 1 new)" in rerun.stdout
    assert (seed_dirs[0] / "metrics.jsonl").read_bytes() == finished_metrics  # not trained again
    assert re.search(r"resuming .*seed1 from step [1-9]", (seed_dirs[1] / "train.log").read_text())
    assert all(_final_step_done(d, steps) for d in seed_dirs)
    for d in seed_dirs:  # every update step logged exactly once, across the interruption
        assert [r["step"] for r in read_jsonl(d / "metrics.jsonl")] == list(range(20, steps + 1, 20))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ray_backend_runs_a_two_run_sweep_on_a_local_cluster(tiny_data_dir, tmp_path):
    pytest.importorskip("ray", reason="the ray backend's test needs `pip install -e '.[test]'`")
    port, temp_dir = _free_port(), tempfile.mkdtemp(prefix="ray", dir="/tmp")  # short: socket paths
    start = ["ray", "start", "--head", f"--port={port}", "--num-cpus=2", "--num-gpus=0",
             "--include-dashboard=false", "--disable-usage-stats", f"--temp-dir={temp_dir}"]  # fmt: skip
    subprocess.run(start, check=True, capture_output=True, timeout=120)
    try:
        flags = ["--seeds", "2", "--separate-seeds", "--steps", "20", "--log-every", "10",
                 "--checkpoint-every", "10", "--eval-every", "0", "--eval-episodes", "1",
                 "--backend", "ray", "--address", f"127.0.0.1:{port}"]  # fmt: skip
        done = subprocess.run(_sweep_command(tmp_path, tiny_data_dir, *flags), capture_output=True, text=True,
                              timeout=600)  # fmt: skip
    finally:
        subprocess.run(["ray", "stop", "--force"], capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "2 runs (0 finished, skipped; 0 to resume; 2 new) on the ray backend" in done.stdout
    results = collect(tmp_path)
    assert sorted(r.seed for r in results) == [0, 1]
    assert all(r.score is not None and r.steps == 20 for r in results)


def test_reproduce_dry_run_lists_the_runs_and_their_gpu_time(capsys, tmp_path):
    code = main(["reproduce", "mrcrl-table1", "--dry-run", "--datasets", "antmaze-large-navigate-v0",
                 "--out", str(tmp_path), "--data-dir", str(tmp_path), "--gpu-tflops", "50"])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    lines = [line for line in out.splitlines() if line.startswith("  antmaze-large-navigate-v0")]
    assert len(lines) == 2 and "crl seed 0-3: paper preset" in lines[0] and "mrcrl-paper preset" in lines[1]
    assert all("data generatable once the ant expert is trained" in line for line in lines)
    for line in lines:
        gflop, hours = re.search(r"(\d+) GFLOP/update, ~([\d.]+) GPU h", line).groups()
        assert float(hours) == pytest.approx(float(gflop) * 1e9 * 1e6 * 4 / 50e12 / 3600, abs=0.02)
    assert not (tmp_path / "sweep.json").exists()  # a dry run starts nothing


def test_reproduce_a_figure_trains_its_arms_online_and_reports_them_by_name(capsys, tmp_path):
    """crl-fig10 on one maze, two seeds, a few rounds: each arm's runs carry its actor-goal flags, and the
    report names the arms (not the agent, which is crl for all three)."""
    schedule = ["--steps", "480", "--random-steps", "400", "--log-every", "240", "--eval-every", "240",
                "--checkpoint-every", "480", "--eval-episodes", "4", *TINY[:-1]]  # fmt: skip
    code = main(["reproduce", "crl-fig10", "--datasets", "point-spiral11x11", "--seeds", "2", "--out",
                 str(tmp_path), "--no-progress", *schedule])  # fmt: skip
    assert code == 0
    probabilities = {}
    for arm in ("random", "future", "mixture"):
        for seed in (0, 1):
            config = to_dict(read_config(tmp_path / "point-spiral11x11" / arm / "seeds0-1" / f"seed{seed}"))
            probabilities[arm] = (config["agent"]["actor_p_trajgoal"], config["agent"]["actor_p_randomgoal"])
            assert config["env"] == "point-spiral11x11" and config["steps"] == 480
    assert probabilities == {"random": (0.0, 1.0), "future": (1.0, 0.0), "mixture": (0.5, 0.5)}
    results = collect(tmp_path)
    assert sorted((r.label, r.seed) for r in results) == [(a, s) for a in ("future", "mixture", "random")
                                                          for s in (0, 1)]  # fmt: skip
    assert all(r.score is not None and [step for step, _ in r.curve] == [240, 480] for r in results)
    table = (tmp_path / "report" / "report.md").read_text()
    assert all(arm in table for arm in ("random", "future", "mixture"))
