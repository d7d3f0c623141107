"""End to end through the CLI: train writes the experiment folder, eval renders headlessly,
checkpoints round-trip and bad ones are clear errors."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from pufferlib import checkpoint
from pufferlib.pufferl import main

TINY = ["--vec.total-agents", "64", "--vec.num-buffers", "1", "--vec.num-threads", "1",
        "--train.horizon", "16", "--train.minibatch-size", "256", "--train.total-timesteps", "4096",
        "--policy.hidden-size", "16", "--policy.num-layers", "1", "--checkpoint-interval", "2",
        "--backend", "torch", "--quiet"]


def run_cli(args, cwd, env_extra=None, timeout=300):
    env = {**os.environ, "DISPLAY": "", **(env_extra or {})}
    env.pop("DISPLAY")
    return subprocess.run([sys.executable, "-m", "pufferlib.pufferl", *args], capture_output=True,
                          text=True, cwd=cwd, env=env, timeout=timeout)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    cwd = tmp_path_factory.mktemp("run")
    out = run_cli(["train", "squared", *TINY, "--run-id", "tiny"], cwd)
    assert out.returncode == 0, out.stderr + out.stdout
    return cwd, out


def test_train_writes_experiment_folder(trained):
    cwd, out = trained
    run = cwd / "experiments" / "squared" / "tiny"
    assert "torch backend" in out.stdout  # says which backend it uses
    config = json.loads((run / "config.json").read_text())
    assert config["train"]["horizon"] == 16 and config["backend"] == "torch"
    lines = [json.loads(l) for l in (run / "metrics.jsonl").read_text().splitlines()]
    assert len(lines) == 4096 // (64 * 16)
    assert lines[-1]["agent_steps"] == 4096 and "loss/policy" in lines[-1] and lines[-1]["SPS"] > 0
    ckpts = sorted((run / "checkpoints").glob("*.bin"))
    assert [p.name for p in ckpts] == [f"{2048:016d}.bin", f"{4096:016d}.bin"]
    header, tensors = checkpoint.load(run / "model.bin")
    assert header["env"] == "squared" and header["global_step"] == 4096
    assert tensors["encoder"].shape == (16, 121)
    assert tensors["decoder"].shape == (6, 16)


def test_eval_writes_frames_and_gif_headless(trained):
    cwd, _ = trained
    out = run_cli(["eval", "squared", "--load-model-path", "latest", "--save-frames", "5",
                   "--gif-path", "out.gif", "--frames-dir", "frames"], cwd)
    assert out.returncode == 0, out.stderr + out.stdout
    assert "policy from" in out.stdout
    frames = sorted((cwd / "frames").glob("*.png"))
    assert len(frames) == 5
    from PIL import Image
    img = np.asarray(Image.open(frames[0]).convert("RGB"))
    assert img.shape == (704, 704, 3)
    assert (img == [0, 187, 187]).all(axis=-1).sum() == 64 * 64  # the agent cell, drawn
    assert (cwd / "out.gif").stat().st_size > 0


def test_eval_without_display_says_so(tmp_path):
    out = run_cli(["eval", "squared"], tmp_path)
    assert out.returncode == 1
    assert "no display" in out.stdout and "--save-frames" in out.stdout


def test_resume_from_checkpoint(trained):
    cwd, _ = trained
    out = run_cli(["train", "squared", *TINY, "--load-model-path", "latest", "--run-id", "resumed"], cwd)
    assert out.returncode == 0, out.stderr
    assert "loaded weights from" in out.stdout


def test_missing_and_corrupt_checkpoints_are_clear_errors(tmp_path):
    out = run_cli(["eval", "squared", "--load-model-path", "nope.bin", "--save-frames", "1"], tmp_path)
    assert out.returncode == 2 and "checkpoint not found: nope.bin" in out.stderr
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"garbage" * 10)
    out = run_cli(["eval", "squared", "--load-model-path", str(bad), "--save-frames", "1"], tmp_path)
    assert out.returncode == 2 and "not a PufferLib checkpoint" in out.stderr
    out = run_cli(["eval", "squared", "--load-model-path", "latest", "--save-frames", "1"], tmp_path)
    assert out.returncode == 2 and "no checkpoint of squared" in out.stderr


def test_checkpoint_round_trip_and_corruption(tmp_path):
    rng = np.random.default_rng(0)
    tensors = {"encoder": rng.normal(size=(8, 5)).astype(np.float32),
               "decoder": rng.normal(size=(3, 8)).astype(np.float32)}
    path = checkpoint.save(tmp_path / "a.bin", tensors, env="squared", global_step=7)
    header, loaded = checkpoint.load(path)
    assert header["global_step"] == 7
    for k in tensors:
        assert np.array_equal(tensors[k], loaded[k])
    data = bytearray(path.read_bytes())
    data[-3] ^= 0xFF
    (tmp_path / "flipped.bin").write_bytes(bytes(data))
    with pytest.raises(checkpoint.CheckpointError, match="checksum"):
        checkpoint.load(tmp_path / "flipped.bin")
    (tmp_path / "short.bin").write_bytes(bytes(data[:-8]))
    with pytest.raises(checkpoint.CheckpointError, match="truncated"):
        checkpoint.load(tmp_path / "short.bin")
    assert not list(tmp_path.glob(".tmp_*"))  # atomic writes leave no temporaries


def test_nan_loss_stops_with_last_checkpoint(tmp_path, monkeypatch, capsys):
    import pufferlib.train as train_mod
    real = train_mod.backend_class

    def poisoned(name):
        cls = real(name)

        class Poisoned(cls):
            def epoch(self):
                logs = super().epoch()
                if self.epoch_index >= 3:
                    logs["loss/value"] = float("nan")
                return logs
        return Poisoned

    monkeypatch.setattr(train_mod, "backend_class", poisoned)
    monkeypatch.chdir(tmp_path)
    code = main(["train", "squared", *TINY, "--run-id", "nan", "--checkpoint-interval", "1"])
    err = capsys.readouterr().err
    assert code == 1
    assert "loss/value became nan at epoch 3" in err and f"{2048:016d}.bin" in err
    assert (tmp_path / "experiments/squared/nan/checkpoints" / f"{2048:016d}.bin").exists()
