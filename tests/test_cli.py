import errno
import subprocess
import sys
from functools import partial
from pathlib import Path

import pytest

from crl.cli import COMMANDS, main
from crl.data import generate as gen
from crl.data.generate import generate
from crl.data.store import ensure_files
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
    name = "powderworld-easy-play-v0"
    args = ["train", "--dataset", name, "--data-dir", str(tmp_path), "--run-dir", str(tmp_path / "r")]
    code, _, err = _run(args, capsys)
    assert code == 2
    assert f"{name}.npz not found; crl cannot make it (crl has no generator for it)" in err
    assert "copy the official" in err and f"crl data download {name}" in err
    args[2] = "antmaze-large-navigate-v0"  # made on first use once its expert exists
    code, _, err = _run(args, capsys)
    assert code == 2 and err.strip().count("\n") == 0
    assert "driven by the ant expert, which is not in" in err and "crl expert train ant" in err


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
    code, _, err = _run(["data", "verify", DATASET], capsys)  # a name, not a file
    assert code == 2 and err.strip().count("\n") == 0 and "give the file's path, e.g. " in err
    assert err.strip().endswith(f"{DATASET}.npz")


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
    assert "generate with an expert (`crl expert train ant`)" in line
    line = next(line for line in out.splitlines() if line.startswith("visual-antmaze-large-navigate-v0"))
    assert "generate with an expert (`crl expert train ant`)" in line  # it renders antmaze-large-navigate
    line = next(line for line in out.splitlines() if line.startswith("powderworld-hard-play-v0"))
    assert "no: crl has no generator for it" in line and "crl data download powderworld-hard" in line
    line = next(line for line in out.splitlines() if line.startswith("cube-triple-noisy-v0"))
    assert line.split()[1:3] == ["no", "yes"]


def test_a_lone_user_file_is_never_replaced(tiny_data_dir, tmp_path, capsys):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    user_val = data_dir / f"{DATASET}-val.npz"
    user_val.write_bytes((tiny_data_dir / f"{DATASET}-val.npz").read_bytes())
    before = user_val.read_bytes()
    train_args = ["train", "--run-dir", str(tmp_path / "r")]
    for args in (train_args, ["data", "generate", DATASET, "--episodes", "2"]):
        code, _, err = _run([*args, "--data-dir", str(data_dir)], capsys)
        assert code == 2 and err.strip().count("\n") == 0, args
        assert user_val.read_bytes() == before and not (data_dir / f"{DATASET}.npz").exists()
    _, _, err = _run([*train_args, "--data-dir", str(data_dir)], capsys)
    assert f"{data_dir / DATASET}.npz not found" in err
    assert f"copy {DATASET}.npz into {data_dir}, or remove {DATASET}-val.npz" in err


def test_crl_still_finishes_its_own_interrupted_generation(tmp_path, monkeypatch):
    small = partial(generate, episodes=2)  # the recipe's 1000 episodes would take minutes
    monkeypatch.setattr("crl.data.store.generate", lambda *args, **kwargs: small(*args, **kwargs))
    first = generate(DATASET, tmp_path, episodes=2, progress=False)
    first[1].unlink()  # as if killed between writing the two files: the parts are still there
    (tmp_path / f".{DATASET}.parts").mkdir()
    assert ensure_files(DATASET, tmp_path, progress=False) == first and first[1].exists()
    first[1].unlink()  # crl's file, recorded in its manifest: generated again too
    assert ensure_files(DATASET, tmp_path, progress=False) == first and first[1].exists()


@pytest.mark.parametrize("flag", ["--run-dir", "--data-dir"])
def test_a_file_where_a_directory_belongs_is_one_line(flag, tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    for path in (blocker, blocker / "below"):
        run_dir = [] if flag == "--run-dir" else ["--run-dir", str(tmp_path / "run")]
        code, _, err = _run(["train", flag, str(path), "--steps", "10", *run_dir], capsys)
        assert code == 2 and err.strip().count("\n") == 0, err
        assert f"{blocker} is a file" in err and flag in err


def test_a_full_disk_or_an_unwritable_directory_is_one_line_other_os_errors_are_not_hidden(
    monkeypatch, tmp_path, capsys
):
    def write_chunk(*job):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(gen, "generate_chunk", write_chunk)
    assert main(["data", "generate", DATASET, "--episodes", "2", "--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err  # the progress bar's lines, then crl's
    assert "Traceback" not in err and err.count("crl: error:") == 1
    assert err.strip().splitlines()[-1].startswith("crl: error: no space left on the device: free space")

    def not_allowed(*job):
        raise PermissionError(errno.EACCES, "Permission denied", "/shared/data/part.npz")

    monkeypatch.setattr(gen, "generate_chunk", not_allowed)
    assert main(["data", "generate", DATASET, "--episodes", "2", "--data-dir", str(tmp_path)]) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("crl: error: cannot write /shared/data/part.npz (Permission denied): give a")
    monkeypatch.setattr(gen, "generate_chunk", lambda *job: (tmp_path / "missing" / "file").read_bytes())
    with pytest.raises(FileNotFoundError):
        main(["data", "generate", DATASET, "--episodes", "2", "--data-dir", str(tmp_path)])
