"""Config and CLI: flags from every ini key, types, validation errors (exit code 2)."""
import os
import subprocess
import sys

import pytest

from pufferlib import cli
from pufferlib.config import ConfigError, load_config, parse_value
from pufferlib.pufferl import main, prepare


def run_main(argv, capsys):
    code = main(argv)
    return code, capsys.readouterr()


def test_ini_values_parse():
    assert parse_value("100_000_000") == 100_000_000
    assert parse_value("False") is False and parse_value("true") is True
    assert parse_value("None") is None
    assert parse_value("0.5") == 0.5
    assert parse_value("MinGRU") == "MinGRU"


def test_env_ini_overrides_default():
    config = load_config("squared")
    assert config["train"]["learning_rate"] == 0.005      # squared.ini
    assert config["train"]["gae_lambda"] == 0.90          # default.ini
    assert config["env"]["size"] == 11
    assert config["sweep"]["train"]["learning_rate"]["max"] == 0.1


def test_flags_set_values_with_types():
    mode, config, options = prepare(["train", "squared", "--train.learning-rate", "0.001",
                                     "--vec.num-threads=3", "--seed", "5", "--train.anneal-lr", "False",
                                     "--sweep.train.learning-rate.max", "0.05", "--train.total-timesteps", "2e6"])
    assert config["train"]["learning_rate"] == 0.001
    assert config["vec"]["num_threads"] == 3 and isinstance(config["vec"]["num_threads"], int)
    assert config["seed"] == 5
    assert config["train"]["anneal_lr"] is False
    assert config["sweep"]["train"]["learning_rate"]["max"] == 0.05
    assert config["train"]["total_timesteps"] == 2_000_000


@pytest.mark.parametrize("text,expected", [("False", False), ("0", False), ("false", False),
                                           ("True", True), ("1", True)])
def test_booleans_parse_properly(text, expected):
    _, config, _ = prepare(["train", "squared", "--reset-state", text])
    assert config["reset_state"] is expected


@pytest.mark.parametrize("argv,message", [
    (["train", "squared", "--train.learning-rat", "0.1"], "did you mean '--train.learning-rate'"),
    (["train", "squared", "--train.learning-rate", "fast"], "expected a number"),
    (["train", "squared", "--train.learning-rate", "-0.1"], "learning-rate: must be > 0"),
    (["train", "squared", "--vec.total-agents", "1.5"], "expected an integer"),
    (["train", "squared", "--train.horizon", "48"], "multiple of --train.horizon"),
    (["train", "squared", "--train.minibatch-size", "999999744"], "must be <= the batch"),
    (["train", "squared", "--reset-state", "maybe"], "expected a boolean"),
    (["train", "squared", "--train.gamma", "1.5"], "must be <= 1"),
    (["train", "squared", "--vec.num-buffers", "3"], "multiple of --vec.num-buffers"),
    (["train", "squared", "--torch.network", "Transformer"], "expected MinGRU, MLP or LSTM"),
    (["train", "squared", "--backend", "jax"], "expected auto, native or torch"),
    (["train", "squred"], "Did you mean 'squared'"),
    (["fly", "squared"], "unknown mode 'fly'"),
    (["train", "squared", "--train.learning-rate"], "needs a value"),
])
def test_errors_exit_2_and_write_nothing(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out = run_main(argv, capsys)
    assert code == 2
    assert message in out.err
    assert list(tmp_path.iterdir()) == []


def test_bad_env_value_is_a_clear_error(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out = run_main(["train", "squared", "--env.size", "big"], capsys)
    assert code == 2 and "--env.size: expected an integer" in out.err


def test_help_lists_every_flag_with_default(capsys):
    with pytest.raises(SystemExit) as e:
        prepare(["train", "breakout", "--help"])
    assert e.value.code == 0
    text = capsys.readouterr().out
    for flag in ("--train.learning-rate", "--env.frameskip", "--vec.num-threads", "--seed",
                 "--load-model-path", "--sweep.train.learning-rate.max"):
        assert flag in text
    assert "--env.frameskip" in text and "4" in text


def test_console_script_and_module_entry(tmp_path):
    env = dict(os.environ)
    out = subprocess.run([sys.executable, "-m", "pufferlib.pufferl", "train", "squared", "--nope", "1"],
                         capture_output=True, text=True, cwd=tmp_path, env=env)
    assert out.returncode == 2 and "unknown flag '--nope'" in out.stderr
