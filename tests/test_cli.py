import subprocess
import sys
from pathlib import Path

import pytest

from crl.cli import COMMANDS, main
from tests.conftest import DATASET


def _run(args, capsys):
    code = main(args)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_unknown_dataset_is_one_line(capsys):
    code, _, err = _run(["train", "--dataset", "pointmaze-medum-navigate-v0"], capsys)
    assert code == 2
    assert err.strip().count("\n") == 0
    assert "unknown dataset 'pointmaze-medum-navigate-v0': did you mean pointmaze-medium-navigate-v0" in err


def test_invalid_config_is_one_line(capsys, tmp_path):
    code, _, err = _run(["train", "--agent.discount", "1.5", "--run-dir", str(tmp_path / "r")], capsys)
    assert code == 2
    assert err.strip() == "crl: error: --agent.discount must lie in (0, 1), got 1.5"


def test_unknown_preset(capsys):
    code, _, err = _run(["train", "--preset", "fast"], capsys)
    assert code == 2 and "unknown preset 'fast': choose one of quick, paper" in err


def test_missing_dataset_that_cannot_be_generated(capsys, tmp_path):
    args = [
        "train",
        "--dataset",
        "antmaze-large-navigate-v0",
        "--data-dir",
        str(tmp_path),
        "--run-dir",
        str(tmp_path / "r"),
    ]
    code, _, err = _run(args, capsys)
    assert code == 2
    assert (
        "antmaze-large-navigate-v0.npz not found; crl cannot make it (its recipe needs trained expert" in err
    )
    assert "copy the official" in err and "crl data download antmaze-large-navigate-v0" in err


def test_corrupt_dataset_names_the_fix(capsys, tmp_path):
    (tmp_path / f"{DATASET}.npz").write_bytes(b"garbage")
    (tmp_path / f"{DATASET}-val.npz").write_bytes(b"garbage")
    code, _, err = _run(["train", "--data-dir", str(tmp_path), "--run-dir", str(tmp_path / "r")], capsys)
    assert code == 2
    assert "is not a readable .npz file" in err and f"crl data generate {DATASET}" in err


def test_presets_and_dotted_flags_compose(monkeypatch, tmp_path):
    seen = {}
    monkeypatch.setattr("crl.train.train", lambda config: seen.update(config=config))
    args = [
        "train",
        "--preset",
        "paper",
        "--dataset",
        "pointmaze-giant-stitch-v0",
        "--agent.alpha",
        "0.5",
        "--steps",
        "7",
        "--run-dir",
        str(tmp_path),
    ]
    assert main(args) == 0
    config = seen["config"]
    assert config.agent.alpha == 0.5  # the flag wins over the preset
    assert config.agent.discount == 0.995  # giant mazes in OGBench's CRL settings
    assert config.agent.actor_p_randomgoal == 0.5  # stitch datasets
    assert config.agent.hidden == (512, 512, 512) and config.agent.batch_size == 1024
    assert config.steps == 7


def test_data_verify_accepts_generated_and_rejects_modified(tiny_data_dir, tmp_path, capsys):
    path = tiny_data_dir / f"{DATASET}.npz"
    code, out, _ = _run(["data", "verify", str(path)], capsys)
    assert code == 0 and "ok" in out and "matches" in out
    copy_dir = tmp_path / "copy"
    copy_dir.mkdir()
    for f in (p for p in tiny_data_dir.iterdir() if p.is_file()):
        (copy_dir / f.name).write_bytes(f.read_bytes())
    data = bytearray((copy_dir / path.name).read_bytes())
    data[-30] ^= 0xFF  # flip a byte in the zip's central directory
    (copy_dir / path.name).write_bytes(bytes(data))
    code, _, err = _run(["data", "verify", str(copy_dir / path.name)], capsys)
    assert code == 2 and err.startswith("crl: error:")


def test_help_lists_exactly_the_commands_crl_runs(capsys):
    crl_script = Path(sys.executable).parent / "crl"  # the installed console script, not the module
    out = subprocess.run([str(crl_script), "--help"], capture_output=True, text=True, check=True).stdout
    section = out.split("commands:\n", 1)[1].split("\n\n", 1)[0]
    listed = [line.split()[0] for line in section.splitlines()]
    assert listed == list(COMMANDS)
    for command in listed:  # each listed command answers its own --help
        try:
            code = main([command, "--help"])
        except SystemExit as exc:  # argparse and tyro exit after printing help
            code = exc.code
        assert code == 0, command
        assert f"crl {command}" in capsys.readouterr().out, command


@pytest.mark.parametrize("args", [["data", "list"]])
def test_data_list_shows_generability(args, tmp_path, capsys):
    code, out, _ = _run([*args, "--data-dir", str(tmp_path)], capsys)
    assert code == 0
    line = next(line for line in out.splitlines() if line.startswith("pointmaze-large-stitch-v0"))
    assert line.split()[1:3] == ["no", "yes"]
    line = next(line for line in out.splitlines() if line.startswith("antmaze-large-navigate-v0"))
    assert "needs trained expert policies" in line and "crl data download antmaze-large-navigate-v0" in line
    line = next(line for line in out.splitlines() if line.startswith("cube-triple-noisy-v0"))
    assert line.split()[1:3] == ["no", "yes"]
