"""`crl analyze SUBCOMMAND RUN_DIR...`: probe, tsne and gradsim compare the untrained agent with every point-
maze run given; robustness evaluates a fetch-push-image policy under perturbations; transfer and goaldim
compare runs' evaluations by where their critic came from and by goal size. Each writes a figure (PNG) and
its numbers (CSV) in --out."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Annotated

import jax
import numpy as np
import tyro

from crl.analysis.runs import AnalyzedAgent, load_run, untrained
from crl.errors import CrlError

Runs = Annotated[list[Path], tyro.conf.Positional]


def _agents(run_dirs: list[Path]) -> list[AnalyzedAgent]:
    if not run_dirs:
        raise CrlError("name at least one run directory (`crl train --env point-<map>` makes one)")
    runs = [load_run(run_dir) for run_dir in run_dirs]
    mazes = {run.space.maze.name for run in runs}
    if len(mazes) > 1:
        names = ", ".join(sorted(mazes))
        raise CrlError(f"these runs trained on different mazes ({names}); analyze one maze at a time")
    return [untrained(runs[0]), *runs]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only; no display needed
    import matplotlib.pyplot as plt

    return plt


def probe(run_dirs: Runs, out: Path = Path("analysis"), pairs: int = 4000, seed: int = 0) -> None:
    """Linear probe (CRL paper F.1, Fig. 8): predict the shortest-path distance between a state and a goal
    from each agent's features; test error, untrained agent first. Writes probe.csv and probe.png.

    Args:
        run_dirs: Online point-maze runs (crl or td3her) on one maze.
        out: Directory for the figure and the CSV.
        pairs: (state, goal) pairs drawn uniformly over the maze's free space.
        seed: Draws the pairs, the split and the untrained agent's parameters.
    """
    from crl.analysis.probe import probe_agent

    rows = [probe_agent(agent, pairs, seed) for agent in _agents(run_dirs)]
    out.mkdir(parents=True, exist_ok=True)
    _write_csv(out / "probe.csv", rows)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(1.6 + 1.4 * len(rows), 3.2))
    ax.bar(range(len(rows)), [r["relative_test_mse"] for r in rows], color="tab:blue")
    ax.set_xticks(range(len(rows)), [r["agent"] for r in rows], rotation=15, ha="right", fontsize=8)
    ax.set_ylabel("test MSE / variance of distance")
    ax.set_title(f"linear probe of shortest-path distance ({pairs} pairs)", fontsize=9)
    fig.tight_layout()
    fig.savefig(out / "probe.png", dpi=150)
    plt.close(fig)
    width = max(len(r["agent"]) for r in rows)
    print(f"{'agent'.ljust(width)}  train MSE  test MSE  test MSE / variance")
    for r in rows:
        errors = f"{r['train_mse']:9.3f}  {r['test_mse']:8.3f}  {r['relative_test_mse']:19.3f}"
        print(f"{r['agent'].ljust(width)}  {errors}")
    print(f"wrote {out / 'probe.png'} and {out / 'probe.csv'}")


def tsne(run_dirs: Runs, out: Path = Path("analysis"), per_cell: int = 3, seed: int = 0) -> None:
    """t-SNE of phi(s, a = 0) over the maze (CRL paper Fig. 16), coloured by position, and of phi(s_t, a_t)
    along one episode of each agent's own policy (as Fig. 14), coloured by time; untrained agent first.
    Writes tsne.csv, tsne-episode.csv and tsne.png.

    Args:
        run_dirs: Online point-maze crl runs on one maze.
        out: Directory for the figure and the CSVs.
        per_cell: Points per free cell along each axis (3: 9 points in a cell).
        seed: t-SNE's random state, the episode's reset and the untrained agent's parameters.
    """
    from crl.analysis.tsne import position_colours, tsne_agent, tsne_episode

    agents = _agents(run_dirs)
    grids = [tsne_agent(agent, per_cell, seed) for agent in agents]
    episodes = [tsne_episode(agent, seed) for agent in agents]
    out.mkdir(parents=True, exist_ok=True)
    _write_csv(out / "tsne.csv", [
        {"agent": agent.label, "row": p[0], "col": p[1], "x": e[0], "y": e[1]}
        for agent, (positions, embedding) in zip(agents, grids, strict=True)
        for p, e in zip(positions, embedding, strict=True)
    ])  # fmt: skip
    _write_csv(out / "tsne-episode.csv", [
        {"agent": agent.label, "t": t, "row": p[0], "col": p[1], "x": e[0], "y": e[1]}
        for agent, (positions, embedding) in zip(agents, episodes, strict=True)
        for t, (p, e) in enumerate(zip(positions, embedding, strict=True))
    ])  # fmt: skip
    plt = _pyplot()
    fig, axes = plt.subplots(2, len(agents) + 1, figsize=(3.0 * (len(agents) + 1), 6.0), squeeze=False)
    env, positions = agents[0].space.maze, grids[0][0]
    rows, cols = env.walls.shape
    colours = position_colours(positions, (rows, cols))
    for ax in axes[:, 0]:
        ax.imshow(env.walls, cmap="Greys", extent=(0, cols, rows, 0))
    axes[0, 0].scatter(positions[:, 1], positions[:, 0], c=colours, s=6)
    axes[0, 0].set_title(f"{env.name}: points", fontsize=9)
    for ax, agent, (_, embedding) in zip(axes[0, 1:], agents, grids, strict=True):
        ax.scatter(embedding[:, 0], embedding[:, 1], c=colours, s=6)
        ax.set_title(agent.label, fontsize=9)
    for k, (agent, (path, embedding)) in enumerate(zip(agents, episodes, strict=True)):
        time = np.arange(len(path))
        axes[1, 0].scatter(path[:, 1], path[:, 0], c=time, cmap="viridis", s=5, marker="os^v"[k % 4])
        axes[1, k + 1].scatter(embedding[:, 0], embedding[:, 1], c=time, cmap="viridis", s=8)
        axes[1, k + 1].set_title(f"{agent.label}: one episode", fontsize=9)
    axes[1, 0].set_title("episodes (colour: time step)", fontsize=9)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(out / "tsne.png", dpi=150)
    plt.close(fig)
    print(f"wrote {out / 'tsne.png'}, tsne.csv ({len(positions)} points) and tsne-episode.csv")


def gradsim(run_dirs: Runs, out: Path = Path("analysis"), points: int = 32, seed: int = 0) -> None:
    """Gradient similarity (CRL paper Fig. 17): cosine similarity between the critic's parameter gradients
    at one state for different goals, and at different states for one goal; untrained agent first.
    Writes gradsim.csv (every matrix entry) and gradsim.png (the heatmaps).

    Args:
        run_dirs: Online point-maze runs (crl with any critic, or td3her) on one maze.
        out: Directory for the figure and the CSV.
        points: Goals (and states) per matrix, spread over the maze's free space.
        seed: Draws the points and the untrained agent's parameters.
    """
    from crl.analysis.gradients import off_diagonal_mean, similarities

    results = [(agent, similarities(agent, points, seed)) for agent in _agents(run_dirs)]
    out.mkdir(parents=True, exist_ok=True)
    _write_csv(out / "gradsim.csv", [
        {"agent": agent.label, "varied": varied, "i": i, "j": j, "cosine": float(m[i, j])}
        for agent, matrices in results for varied, m in matrices.items()
        for i in range(points) for j in range(points)
    ])  # fmt: skip
    plt = _pyplot()
    fig, axes = plt.subplots(2, len(results), figsize=(2.8 * len(results), 5.4), squeeze=False)
    width = max(len(agent.label) for agent, _ in results)
    print(f"{'agent'.ljust(width)}  mean cosine, goals varied  mean cosine, states varied")
    for column, (agent, matrices) in enumerate(results):
        means = {varied: off_diagonal_mean(m) for varied, m in matrices.items()}
        print(f"{agent.label.ljust(width)}  {means['goals']:25.3f}  {means['states']:26.3f}")
        for row, (varied, m) in enumerate(matrices.items()):
            ax = axes[row, column]
            ax.imshow(m, vmin=-1, vmax=1, cmap="RdBu_r")
            ax.set_title(f"{agent.label}\n{varied} varied: mean {means[varied]:.2f}", fontsize=8)
            ax.set_xticks([])
            ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(out / "gradsim.png", dpi=150)
    plt.close(fig)
    print(f"wrote {out / 'gradsim.png'} and {out / 'gradsim.csv'}")


def robustness(run_dir: Annotated[Path, tyro.conf.Positional], out: Path = Path("analysis"), trials: int = 20,
               repeats: int = 5) -> None:  # fmt: skip
    """Robustness (CRL paper F.5, Fig. 12): a fetch-push-image run's policy (seed 0, latest checkpoint)
    on the original task, with the object red, the table yellow, and the arm starting 10 cm toward the
    camera; success mean +- std over repeats. Writes robustness.csv and robustness.png.

    Args:
        run_dir: A run on fetch-push-image.
        out: Directory for the figure and the CSV.
        trials: Episodes per repeat (the paper: 20).
        repeats: Repeats per perturbation (the paper: 5).
    """
    from crl.analysis.robustness import PERTURBATIONS, perturbed, success_rates
    from crl.envs import make_env
    from crl.train import latest_agent, policy_for

    if trials < 1 or repeats < 1:
        raise CrlError(f"--trials and --repeats must be at least 1, got {trials} and {repeats}")
    config, state = latest_agent(run_dir)
    if config.env != "fetch-push-image":
        raise CrlError(f"{run_dir} trained on {config.env or config.dataset}; robustness studies a "
                       "fetch-push-image run (`crl train --env fetch-push-image`)")  # fmt: skip
    task = make_env(config.env)
    stacked = jax.tree.map(lambda x: x[None], state)
    policy = policy_for(stacked, config.agent.for_run(config.steps), task.action_dim, 1)
    table = []
    for name in PERTURBATIONS:
        rates = success_rates(perturbed(task, name), policy, trials, repeats)
        table += [{"perturbation": name, "repeat": r, "success": float(x)} for r, x in enumerate(rates)]
        print(f"{name}: {rates.mean():.0%} +- {rates.std():.0%} ({repeats} x {trials} episodes)")
    out.mkdir(parents=True, exist_ok=True)
    _write_csv(out / "robustness.csv", table)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 3.2))
    rates = [[r["success"] for r in table if r["perturbation"] == name] for name in PERTURBATIONS]
    ax.bar(range(len(rates)), [np.mean(x) for x in rates], yerr=[np.std(x) for x in rates], capsize=4)
    ax.set_xticks(range(len(rates)), list(PERTURBATIONS), fontsize=8)
    ax.set(ylabel="success", ylim=(0, 1.05), title=f"fetch-push-image ({repeats} x {trials} episodes each)")
    fig.tight_layout()
    fig.savefig(out / "robustness.png", dpi=120)
    plt.close(fig)
    print(f"wrote {out / 'robustness.png'} and {out / 'robustness.csv'}")


def goaldim(run_dirs: Runs, out: Path = Path("analysis")) -> None:
    """Goal dimension (CRL paper F.2, Fig. 9): the final distance to the goal of runs on sawyer-push-goalK
    (K = 1 ... 7), by K, mean +- std over seeds (each seed's last evaluation). Writes goaldim.csv and
    goaldim.png.

    Args:
        run_dirs: Runs on sawyer-push-goal1 ... sawyer-push-goal7 (`crl reproduce crl-fig9` makes them).
        out: Directory for the figure and the CSV.
    """
    from crl.analysis.goal_dims import final_distances

    if not run_dirs:
        raise CrlError("name the runs on sawyer-push-goal1 ... 7 (`crl reproduce crl-fig9` makes them)")
    table = final_distances(run_dirs)
    out.mkdir(parents=True, exist_ok=True)
    _write_csv(out / "goaldim.csv", table)
    dims = sorted({r["goal_dims"] for r in table})
    by_dim = [[r["final_distance"] for r in table if r["goal_dims"] == k] for k in dims]
    for k, values in zip(dims, by_dim, strict=True):
        print(f"goal of {k} dims: final distance {np.mean(values):.3f} +- {np.std(values):.3f} m "
              f"({len(values)} seeds)")  # fmt: skip
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(4.5, 3.2))
    ax.errorbar(dims, [np.mean(v) for v in by_dim], yerr=[np.std(v) for v in by_dim], marker="o", capsize=4)
    ax.set(xlabel="goal dimension", ylabel="final distance to goal (m)", title="sawyer push, CRL")
    fig.tight_layout()
    fig.savefig(out / "goaldim.png", dpi=120)
    plt.close(fig)
    print(f"wrote {out / 'goaldim.png'} and {out / 'goaldim.csv'}")


def transfer(run_dirs: Runs, out: Path = Path("analysis")) -> None:
    """Transfer (CRL paper F.4, Fig. 11): each target task's success curves, one per task its critic was
    transferred from (`crl train --init-from`; "scratch": none), seeds pooled (mean +- std). Prints the
    final success of each pair; writes transfer.csv and transfer.png.

    Args:
        run_dirs: Runs of any tasks, with and without --init-from (each with its evaluations).
        out: Directory for the figure and the CSV.
    """
    from crl.analysis.transfer import curves, rows

    if not run_dirs:
        raise CrlError("name the run directories to compare (`crl train --init-from RUN_DIR` makes them)")
    table = rows(curves(run_dirs))
    if not table:
        raise CrlError("these runs have no evaluations yet (eval.jsonl); train them with --eval-every")
    out.mkdir(parents=True, exist_ok=True)
    _write_csv(out / "transfer.csv", table)
    targets = sorted({r["target"] for r in table})
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(targets), figsize=(4 * len(targets), 3.2), squeeze=False)
    for ax, target in zip(axes[0], targets, strict=True):
        for source in sorted({r["source"] for r in table if r["target"] == target}):
            pts = [r for r in table if (r["target"], r["source"]) == (target, source)]
            step = np.array([r["step"] for r in pts])
            mean, std = (np.array([r[k] for r in pts]) for k in ("success_mean", "success_std"))
            ax.plot(step, mean, label=f"from {source}")
            ax.fill_between(step, mean - std, mean + std, alpha=0.2)
            print(f"{target} from {source}: {mean[-1]:.1%} +- {std[-1]:.1%} at step {step[-1]} "
                  f"({pts[-1]['seeds']} seeds)")  # fmt: skip
        ax.set(title=f"target: {target}", xlabel="step", ylabel="success", ylim=(-0.02, 1.02))
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "transfer.png", dpi=120)
    plt.close(fig)
    print(f"wrote {out / 'transfer.png'} and {out / 'transfer.csv'}")


def _write_csv(path: Path, rows: list[dict]) -> None:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        for row in rows:
            writer.writerow(
                {k: f"{v:.6g}" if isinstance(v, float | np.floating) else v for k, v in row.items()}
            )
