"""The report's statistics against scipy and rliable, its marks, and its refusal to mix runs."""

import csv
import dataclasses
import io
import json

import numpy as np
import pytest
from rliable import library as rly
from rliable import metrics
from scipy import stats as scipy_stats

from crl.config import MRCRLConfig
from crl.errors import CrlError
from crl.experiments import report as rep
from crl.experiments import stats
from crl.experiments.results import collect
from crl.train import write_config
from tests.conftest import tiny_config

RNG = np.random.default_rng(7)
CRL = {
    "pointmaze-medium-stitch-v0": [0.0, 1.0, 0.0, 2.0],
    "cube-single-play-v0": [18.0, 22.0, 17.0, 20.0],
    "scene-play-v0": [60.0, 55.0, 58.0, 61.0],
}
MRCRL = {
    "pointmaze-medium-stitch-v0": [30.0, 22.0, 26.0, 18.0],
    "cube-single-play-v0": [19.0, 25.0, 12.0, 21.0],
    "scene-play-v0": [2.0, 0.0, 1.0, 3.0],
}


def _write_run(root, dataset, agent_config, seed, final, steps=40, preset="quick"):
    run_dir = root / dataset / f"{type(agent_config).__name__}" / f"seed{seed}"
    run_dir.mkdir(parents=True)
    config = dataclasses.replace(
        tiny_config(None, run_dir, dataset=dataset, steps=steps, seed=seed), agent=agent_config, preset=preset
    )
    write_config(run_dir, config)
    records = [{"step": steps // 2, "overall": final / 200}, {"step": steps, "overall": final / 100}]
    (run_dir / "eval.jsonl").write_text("".join(json.dumps(r | {"tasks": {}}) + "\n" for r in records))
    return run_dir


@pytest.fixture
def table_dir(tmp_path):
    crl_agent = tiny_config(None, None).agent
    for dataset, scores in CRL.items():
        for seed, score in enumerate(scores):
            _write_run(tmp_path, dataset, crl_agent, seed, score)
    for dataset, scores in MRCRL.items():
        for seed, score in enumerate(scores):
            _write_run(tmp_path, dataset, MRCRLConfig(), seed, score)
    return tmp_path


def test_statistics_match_scipy_and_rliable():
    a, b = RNG.uniform(0, 100, 5), RNG.uniform(0, 100, 7)
    mean, std = stats.mean_std(a)
    assert mean == pytest.approx(np.mean(a)) and std == pytest.approx(np.std(a, ddof=1))
    assert stats.welch_p(a, b) == pytest.approx(scipy_stats.ttest_ind(a, b, equal_var=False).pvalue)
    assert np.isnan(stats.welch_p(a[:1], b))
    scores = {"x": RNG.uniform(0, 100, (4, 6)), "y": RNG.uniform(0, 100, (4, 6))}
    ours = stats.iqm_intervals(scores, reps=300, seed=3)
    np.random.seed(3)  # rliable's bootstrap draws from NumPy's global generator
    point, interval = rly.get_interval_estimates(
        scores, lambda x: np.array([metrics.aggregate_iqm(x)]), reps=300
    )
    for k in scores:
        assert ours[k] == pytest.approx((point[k][0], interval[k][0, 0], interval[k][1, 0]))
        assert ours[k][0] == pytest.approx(scipy_stats.trim_mean(scores[k].ravel(), 0.25))
        assert ours[k][1] <= ours[k][0] <= ours[k][2]


def test_report_cells_match_direct_statistics(table_dir):
    report = rep.build(collect(table_dir), baseline="crl", reps=200)
    assert report.labels == ["crl", "mrcrl"]
    assert report.datasets == list(CRL)  # the paper's order
    for dataset in CRL:
        ours, base = report.cells[(dataset, "mrcrl")], report.cells[(dataset, "crl")]
        assert ours.mean == pytest.approx(np.mean(MRCRL[dataset]))
        assert ours.std == pytest.approx(np.std(MRCRL[dataset], ddof=1))
        p = scipy_stats.ttest_ind(MRCRL[dataset], CRL[dataset], equal_var=False).pvalue
        assert ours.p == pytest.approx(p)
        assert (ours.bold or base.bold) == (p < 0.05)
        assert not (ours.bold and base.bold)
    assert report.cells[("pointmaze-medium-stitch-v0", "mrcrl")].bold  # 24 vs 0.75
    assert report.cells[("scene-play-v0", "crl")].bold  # 58.5 vs 1.5
    matrix = {
        x: np.array([[s[d][i] for d in CRL] for i in range(4)]) for x, s in (("crl", CRL), ("mrcrl", MRCRL))
    }
    direct = stats.iqm_intervals(matrix, reps=200)
    assert report.iqm.keys() == direct.keys()
    for label, (point, low, high) in direct.items():
        assert report.iqm[label] == pytest.approx((point, low, high)), label
    assert report.iqm_shape == (4, 3)


def test_published_columns_and_outside_marks(table_dir):
    report = rep.build(collect(table_dir), reps=100)
    # MR-CRL Table 1: scene-play crl 19 ± 2 (ours 58.5: outside);
    # pointmaze-medium-stitch mrcrl 24 ± 9 (ours 24: inside)
    assert report.cells[("scene-play-v0", "crl")].outside_published
    assert not report.cells[("pointmaze-medium-stitch-v0", "mrcrl")].outside_published
    markdown = rep.to_markdown(report)
    assert "| dataset | crl | crl (paper) | mrcrl | mrcrl (paper) | p vs crl |" in markdown
    scene = next(line for line in markdown.splitlines() if line.startswith("| scene-play-v0"))
    assert "**58.5 ± 2.6 (4)** †" in scene and "| 19 ± 2 |" in scene
    latex = rep.to_latex(report)
    assert r"\textbf{58.5 $\pm$ 2.6 (4)}$^\dagger$" in latex and r"\end{tabular}" in latex
    rows = list(csv.DictReader(io.StringIO(rep.to_csv(report))))
    assert len(rows) == 6
    row = next(r for r in rows if r["dataset"] == "cube-single-play-v0" and r["label"] == "mrcrl")
    assert float(row["mean"]) == pytest.approx(np.mean(MRCRL["cube-single-play-v0"]))
    assert row["published_mean"] == "0.0" and row["outside_published"] == "True"


def test_written_report_has_every_format_and_a_curve_per_dataset(table_dir):
    _, out = rep.write_report(table_dir, reps=100)
    assert {p.name for p in out.iterdir()} == {"report.md", "report.tex", "report.csv", "iqm.csv", "curves"}
    assert sorted(p.stem for p in (out / "curves").iterdir()) == sorted(CRL)


def test_unfinished_runs_are_left_out_and_named(table_dir):
    run = _write_run(table_dir, "puzzle-3x3-play-v0", MRCRLConfig(), 0, 50.0)
    (run / "eval.jsonl").write_text(json.dumps({"step": 20, "overall": 0.5, "tasks": {}}) + "\n")
    report = rep.build(collect(table_dir), reps=100)
    assert "puzzle-3x3-play-v0" not in report.datasets
    assert [r.run_dir for r in report.unfinished] == [run]


def test_two_runs_of_one_seed_are_refused(table_dir):
    crl_agent = tiny_config(None, None).agent
    _write_run(table_dir / "again", "scene-play-v0", crl_agent, 0, 10.0)
    with pytest.raises(CrlError, match="are both scene-play-v0 crl seed 0"):
        collect(table_dir)


def _write_curve(root, preset, seed, curve, steps=40, dataset="scene-play-v0"):
    run_dir = _write_run(root, dataset, tiny_config(None, None).agent, seed, 0.0, steps, preset)
    records = [{"step": step, "overall": success / 100, "tasks": {}} for step, success in curve]
    (run_dir / "eval.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return run_dir


def test_paper_presets_score_the_mean_of_the_last_three_evaluations(tmp_path):
    curve = [(10, 90.0), (20, 10.0), (30, 20.0), (40, 60.0)]
    _write_curve(tmp_path / "paper", "paper", 0, curve)
    _write_curve(tmp_path / "paper", "paper", 1, [(s, v + 10) for s, v in curve])
    _write_curve(tmp_path / "quick", "quick", 0, curve, dataset="cube-single-play-v0")
    paper = rep.build(collect(tmp_path / "paper"), reps=10)
    assert paper.cells[("scene-play-v0", "crl")].scores == pytest.approx([30.0, 40.0])  # (10+20+60)/3
    assert paper.scored_steps == [(20, 30, 40)]
    assert "averaged over its evaluations at updates 3 (20, 30, 40)" in rep.to_markdown(paper)
    quick = rep.build(collect(tmp_path / "quick"), reps=10)
    assert quick.cells[("cube-single-play-v0", "crl")].scores == [60.0]  # quick: the final evaluation only
    flagged = rep.build(collect(tmp_path / "paper", last=2), reps=10)
    assert flagged.cells[("scene-play-v0", "crl")].scores == pytest.approx([40.0, 50.0])
    mixed = rep.build(collect(tmp_path), reps=10, baseline="crl")
    assert "last 1 or 3 evaluations" in rep.to_markdown(mixed)


def test_a_run_without_its_final_evaluation_is_not_scored(tmp_path):
    run = _write_curve(tmp_path, "paper", 0, [(10, 50.0), (20, 50.0), (30, 50.0)])  # steps=40
    (result,) = collect(tmp_path)
    assert result.run_dir == run and result.score is None and result.scored_steps == ()


def test_seeds_with_different_settings_are_refused(tmp_path):
    crl_agent = tiny_config(None, None).agent
    _write_run(tmp_path, "scene-play-v0", crl_agent, 0, 10.0, steps=40)
    _write_run(tmp_path, "scene-play-v0", crl_agent, 1, 10.0, steps=80)
    with pytest.raises(CrlError, match="differ in steps"):
        collect(tmp_path)
