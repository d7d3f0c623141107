"""puffer [train|eval|sweep|export] ENV [flags]   (also: python -m pufferlib.pufferl ...)"""
import os
import sys

from . import cli
from .config import ConfigError, load_config
from .envs import UnknownEnvError, available_envs

MODES = ("train", "eval", "sweep", "export")
USAGE = ("usage: puffer [train|eval|sweep] ENV [flags]   (puffer train ENV --help lists every flag)\n"
         "       puffer export ENV --web DIR [--load-model-path PATH|latest]   (a web page where it plays)")


def fail(message, code=2):
    print(f"puffer: error: {message}", file=sys.stderr)
    return code


def prepare(argv):
    """(mode, config, options) from argv; ConfigError on any bad input."""
    if len(argv) < 2 or argv[0] in ("-h", "--help"):
        raise ConfigError(USAGE + f"\navailable envs: {', '.join(available_envs())}")
    mode, env_name = argv[0], argv[1]
    if mode not in MODES:
        raise ConfigError(f"unknown mode '{mode}' (allowed: {', '.join(MODES)})\n{USAGE}")
    envs = available_envs()
    if env_name not in envs:
        hint = cli.closest(env_name, envs)
        raise ConfigError(f"unknown env '{env_name}'." + (f" Did you mean '{hint}'?" if hint else "")
                          + f" Available envs: {', '.join(envs)}")
    config = load_config(env_name)
    options, want_help = cli.parse_args(argv[2:], config)
    if want_help:
        print(cli.help_text(mode, env_name, config))
        raise SystemExit(0)
    cli.validate(config)
    if mode == "export" and not options.get("web"):
        raise ConfigError("puffer export needs --web DIR (the folder to write the page to)")
    if options.get("wandb"):
        try:
            import wandb  # noqa: F401
        except ImportError:
            raise ConfigError("--wandb needs the wandb package: pip install wandb") from None
    return mode, config, options


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        mode, config, options = prepare(argv)
    except (ConfigError, UnknownEnvError) as e:
        return fail(str(e))
    from .checkpoint import CheckpointError
    from .train import TrainingStopped, new_run_id, train
    gpus = int(config["train"].get("gpus", 1))
    if mode == "train" and gpus > 1 and "WORLD_SIZE" not in os.environ:
        from .launcher import launch
        return launch(argv + (["--run-id", options["run_id"]] if options.get("run_id") else
                              ["--run-id", new_run_id(options.get("tag"))]), gpus)
    try:
        if mode == "train":
            result = train(config, options)
            print(f"PufferLib: done. Run folder: {result['run_dir']}")
            return 0
        if mode == "eval":
            from .evaluate import evaluate
            return evaluate(config, options)
        if mode == "export":
            from .web import WebBuildError, build_page
            try:
                build_page(config["env_name"], options["web"], model_path=options.get("load_model_path"),
                           data_dir=config["data_dir"], config=config, seed=int(config["seed"]))
            except WebBuildError as e:
                return fail(str(e), code=1)
            return 0
        from .sweep_runner import sweep
        return sweep(config, options)
    except CheckpointError as e:
        return fail(str(e))
    except TrainingStopped as e:
        return fail(str(e), code=1)
    except ValueError as e:  # bad env kwargs or vec settings reported by the env library
        return fail(str(e))
    except RuntimeError as e:
        return fail(str(e), code=1)
    except KeyboardInterrupt:
        return fail("interrupted", code=130)


if __name__ == "__main__":
    sys.exit(main())
