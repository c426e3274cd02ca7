"""`crl report DIR`: per dataset and run label, the score (each seed's overall success averaged over its
last K evaluations, K = 3 for the paper presets as OGBench counts) as mean ± std over seeds,
Welch's t-test against a baseline label (the better score bold where p < alpha, as MR-CRL Table 1
marks it), the published numbers beside ours (dagger where ours is outside the published mean ±
std), the IQM across datasets with bootstrap CIs, and success curves per dataset. Written as
Markdown, LaTeX and CSV."""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from crl.agents.registry import report_labels
from crl.errors import CrlError
from crl.experiments import reference, stats
from crl.experiments.results import SeedResult, collect


@dataclass
class Cell:
    scores: list[float]  # score (percent) per seed
    mean: float
    std: float
    p: float = math.nan  # Welch's test against the baseline of the same dataset
    bold: bool = False
    published: reference.Published | None = None

    @property
    def outside_published(self) -> bool:
        p = self.published
        return p is not None and p.std is not None and abs(self.mean - p.mean) > p.std


@dataclass
class Report:
    datasets: list[str]
    labels: list[str]  # the baseline first
    baseline: str
    cells: dict[tuple[str, str], Cell]
    iqm: dict[str, tuple[float, float, float]]
    iqm_shape: tuple[int, int]  # (seeds, datasets) the IQM was computed over
    unfinished: list[SeedResult]
    alpha: float
    scored_steps: list[tuple[int, ...]]  # the distinct sets of updates whose evaluations make a score


def _order(labels: set[str], baseline: str) -> list[str]:
    rank = {label: i for i, label in enumerate(report_labels())}
    return sorted(labels, key=lambda x: (x != baseline, rank.get(x, len(rank)), x))


def _dataset_order(datasets: set[str]) -> list[str]:
    paper = reference.table_datasets("mrcrl-table1") + reference.table_datasets("mrcrl-table3")
    rank = {d: i for i, d in reversed(list(enumerate(paper)))}
    return sorted(datasets, key=lambda d: (rank.get(d, len(rank)), d))


def build(
    results: list[SeedResult],
    baseline: str | None = None,
    alpha: float = 0.05,
    reps: int = 2000,
    seed: int = 0,
) -> Report:
    finished = [r for r in results if r.score is not None]
    if not finished:
        raise CrlError("no run has finished (no evaluation at its last update): train them first")
    labels = {r.label for r in finished}
    baseline = baseline or next((x for x in report_labels() if x in labels), sorted(labels)[0])
    if baseline not in labels:
        raise CrlError(
            f"--baseline '{baseline}' has no finished runs; choose one of {', '.join(sorted(labels))}"
        )
    scores: dict[tuple[str, str], list[float]] = {}
    for r in sorted(finished, key=lambda r: r.seed):
        scores.setdefault((r.dataset, r.label), []).append(r.score)
    published = reference.published()
    cells = {key: Cell(s, *stats.mean_std(s), published=published.get(key)) for key, s in scores.items()}
    for (dataset, label), cell in cells.items():
        base = cells.get((dataset, baseline))
        if label == baseline or base is None:
            continue
        cell.p = stats.welch_p(cell.scores, base.scores)
        if cell.p < alpha and cell.mean != base.mean:
            (cell if cell.mean > base.mean else base).bold = True
    datasets = _dataset_order({d for d, _ in scores})
    iqm, shape = _iqm(scores, datasets, sorted(labels), reps, seed)
    unfinished = [r for r in results if r.score is None]
    scored = sorted({r.scored_steps for r in finished})
    return Report(datasets, _order(labels, baseline), baseline, cells, iqm, shape, unfinished, alpha, scored)


def _iqm(scores, datasets, labels, reps, seed):
    """IQM over the datasets every label finished, with the same number of seeds for all (the
    smallest there is; the lowest seeds are kept)."""
    common = [d for d in datasets if all((d, x) in scores for x in labels)]
    if not common:
        return {}, (0, 0)
    k = min(len(scores[(d, x)]) for d in common for x in labels)
    matrices = {x: np.array([scores[(d, x)][:k] for d in common]).T for x in labels}
    return stats.iqm_intervals(matrices, reps=reps, seed=seed), (k, len(common))


def _num(x: float, digits: int = 1) -> str:
    return "–" if math.isnan(x) else f"{x:.{digits}f}"


def _ours(cell: Cell | None, latex: bool = False) -> str:
    if cell is None:
        return ""
    pm = r"$\pm$" if latex else "±"
    text = f"{_num(cell.mean)} {pm} {_num(cell.std)} ({len(cell.scores)})"
    if cell.bold:
        text = rf"\textbf{{{text}}}" if latex else f"**{text}**"
    if cell.outside_published:
        text += r"$^\dagger$" if latex else " †"
    return text


def _paper(cell: Cell | None, latex: bool = False) -> str:
    if cell is None or cell.published is None:
        return ""
    p = cell.published
    pm = r"$\pm$" if latex else "±"
    return f"{p.mean:g}" if p.std is None else f"{p.mean:g} {pm} {p.std:g}"


def _columns(report: Report) -> list[tuple[str, str, str]]:
    """(header, kind, label) of the columns after the dataset: ours, the paper's where it has any,
    and the p-value against the baseline."""
    columns = []
    for label in report.labels:
        columns.append((label, "ours", label))
        if any(getattr(report.cells.get((d, label)), "published", None) for d in report.datasets):
            columns.append((f"{label} (paper)", "paper", label))
        if label != report.baseline:
            columns.append((f"p vs {report.baseline}", "p", label))
    return columns


def _rows(report: Report, latex: bool) -> list[list[str]]:
    rows = []
    for dataset in report.datasets:
        row = [dataset]
        for _, kind, label in _columns(report):
            cell = report.cells.get((dataset, label))
            if kind == "ours":
                row.append(_ours(cell, latex))
            elif kind == "paper":
                row.append(_paper(cell, latex))
            else:
                row.append(_num(cell.p, 3) if cell else "")
        rows.append(row)
    return rows


def _scoring(report: Report) -> str:
    """Which evaluations make a seed's score, in words."""

    def updates(steps: tuple[int, ...]) -> str:
        return f"{len(steps)} ({', '.join(str(s) for s in steps)})"

    if len(report.scored_steps) == 1:
        (steps,) = report.scored_steps
        return f"each seed's overall success (%) averaged over its evaluations at updates {updates(steps)}"
    counts = sorted({len(steps) for steps in report.scored_steps})
    return (
        f"each seed's overall success (%) averaged over its last {' or '.join(map(str, counts))} "
        f"evaluations (by preset or --last-evals; updates: {'; '.join(map(updates, report.scored_steps))})"
    )


def _legend(report: Report) -> str:
    return (
        f"Score: {_scoring(report)}; mean ± std over seeds (number of seeds). Bold: the better of a "
        f"label and {report.baseline} where Welch's t-test gives p < {report.alpha}. †: outside the "
        "published mean ± std."
    )


def to_markdown(report: Report) -> str:
    headers = ["dataset", *[h for h, _, _ in _columns(report)]]
    lines = ["| " + " | ".join(headers) + " |", "|" + " --- |" * len(headers)]
    lines += ["| " + " | ".join(row) + " |" for row in _rows(report, latex=False)]
    out = [_legend(report), "", *lines]
    if report.iqm:
        k, n = report.iqm_shape
        out += [
            "",
            f"IQM across {n} datasets x {k} seeds, 95% stratified-bootstrap CI (rliable):",
            "",
            "| label | IQM | 95% CI |",
            "| --- | --- | --- |",
        ]
        out += [f"| {x} | {v[0]:.1f} | [{v[1]:.1f}, {v[2]:.1f}] |" for x, v in report.iqm.items()]
    if report.unfinished:
        out += ["", "Unfinished (left out): " + ", ".join(str(r.run_dir) for r in report.unfinished)]
    return "\n".join(out) + "\n"


def _tex_escape(text: str) -> str:
    return text.replace("_", r"\_")


def to_latex(report: Report) -> str:
    headers = ["dataset", *[h for h, _, _ in _columns(report)]]
    lines = [
        r"\begin{tabular}{l" + "c" * (len(headers) - 1) + "}",
        r"\toprule",
        " & ".join(_tex_escape(h) for h in headers) + r" \\",
        r"\midrule",
    ]
    rows = [
        [_tex_escape(row[0]), *(c.replace("–", "--") for c in row[1:])] for row in _rows(report, latex=True)
    ]
    lines += [" & ".join(row) + r" \\" for row in rows]
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "% " + _legend(report) + "\n" + "\n".join(lines) + "\n"


def to_csv(report: Report) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(
        [
            "dataset",
            "label",
            "seeds",
            "mean",
            "std",
            f"p_vs_{report.baseline}",
            "bold",
            "published_mean",
            "published_std",
            "outside_published",
            "scores",
        ]
    )
    for dataset in report.datasets:
        for label in report.labels:
            cell = report.cells.get((dataset, label))
            if cell is None:
                continue
            pub = cell.published
            writer.writerow(
                [
                    dataset,
                    label,
                    len(cell.scores),
                    cell.mean,
                    cell.std,
                    cell.p,
                    cell.bold,
                    "" if pub is None else pub.mean,
                    "" if pub is None or pub.std is None else pub.std,
                    cell.outside_published,
                    " ".join(f"{s:g}" for s in cell.scores),
                ]
            )
    return buffer.getvalue()


def iqm_csv(report: Report) -> str:
    k, n = report.iqm_shape
    lines = ["label,iqm,ci_low,ci_high,seeds,datasets"]
    lines += [f"{x},{v[0]},{v[1]},{v[2]},{k},{n}" for x, v in report.iqm.items()]
    return "\n".join(lines) + "\n"


def plot_curves(results: list[SeedResult], out_dir: Path) -> list[Path]:
    """One PNG per dataset: success against updates, mean ± std over seeds for each label."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    for dataset in _dataset_order({r.dataset for r in results}):
        fig, ax = plt.subplots(figsize=(6, 4))
        for label in sorted({r.label for r in results if r.dataset == dataset}):
            curves = [dict(r.curve) for r in results if r.dataset == dataset and r.label == label and r.curve]
            steps = sorted(set.intersection(*(set(c) for c in curves))) if curves else []
            if not steps:
                continue
            values = np.array([[c[s] for s in steps] for c in curves])
            mean = values.mean(0)
            std = values.std(0, ddof=1) if len(curves) > 1 else np.zeros_like(mean)  # as the tables
            ax.plot(steps, mean, marker="o", label=f"{label} ({len(curves)} seeds)")
            ax.fill_between(steps, mean - std, mean + std, alpha=0.2)
        ax.set(title=dataset, xlabel="update", ylabel="overall success (%)", ylim=(-2, 102))
        ax.grid(alpha=0.3)
        ax.legend()
        fig.tight_layout()
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / f"{dataset}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        paths.append(path)
    return paths


def write_report(
    root: Path,
    out: Path | None = None,
    baseline: str | None = None,
    alpha: float = 0.05,
    reps: int = 2000,
    last_evals: int | None = None,
) -> tuple[Report, Path]:
    """Collect the runs under `root` and write report.md, report.tex, report.csv, iqm.csv and curves/;
    a seed's score averages its last `last_evals` evaluations (default: its preset's K)."""
    results = collect(root, last_evals)
    report = build(results, baseline, alpha, reps)
    out = out or root / "report"
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.md").write_text(to_markdown(report))
    (out / "report.tex").write_text(to_latex(report))
    (out / "report.csv").write_text(to_csv(report))
    (out / "iqm.csv").write_text(iqm_csv(report))
    plot_curves(results, out / "curves")
    return report, out
