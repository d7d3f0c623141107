"""`puffer train ENV --wandb --tag NAME` with a real wandb in offline mode (WANDB_MODE=offline): the
run is created with the tag and the resolved config, every epoch's stats are logged at increasing
agent steps, and the offline run file is written."""
import pytest

wandb = pytest.importorskip("wandb")


def test_train_logs_every_epoch_to_wandb_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.setenv("WANDB_SILENT", "true")
    runs, logged = [], []
    real_init = wandb.init

    def init_and_watch(*args, **kwargs):
        run = real_init(*args, **kwargs)
        real_log = run.log

        def log(data, step=None, **kw):
            logged.append((dict(data), step))
            return real_log(data, step=step, **kw)

        monkeypatch.setattr(run, "log", log)
        runs.append(run)
        return run

    monkeypatch.setattr(wandb, "init", init_and_watch)
    from pufferlib import pufferl
    rc = pufferl.main(["train", "cartpole", "--wandb", "--tag", "ci", "--quiet",
                       "--train.total-timesteps", "200000", "--vec.total-agents", "256",
                       "--train.minibatch-size", "2048", "--data-dir", str(tmp_path / "exp")])
    assert rc == 0
    assert len(runs) == 1
    run = runs[0]
    assert tuple(run.tags) == ("ci",)
    assert int(run.config["train"]["total_timesteps"]) == 200000
    assert len(logged) >= 5
    steps = [step for _, step in logged]
    assert steps == sorted(steps) and steps[-1] >= 190000
    for data, step in logged:
        assert data["agent_steps"] == step
        assert data["SPS"] > 0 and "loss/policy" in data
    assert any("env/episode_return" in data for data, _ in logged)
    assert list(tmp_path.glob("wandb/offline-run-*/*.wandb")), "no offline run file"
