"""Command-line flags generated from the config, with validation.

Every config key is a flag: [base] keys as --seed, section keys as --train.learning-rate
(underscores become dashes), sweep parameter keys as --sweep.train.learning-rate.max.
Values take the type of the default. Errors raise ConfigError (exit code 2)."""
import math

from .config import ConfigError, closest

# Flags that are not config keys: name -> (default, help). A default of False = no value.
FIXED_FLAGS = {
    "load_model_path": (None, "checkpoint to load: a path, or 'latest' (newest of this env)"),
    "backend": ("auto", "trainer backend: auto (native when built, else torch), native, torch"),
    "slowly": (False, "use the PyTorch backend (same as --backend torch)"),
    "wandb": (False, "log to Weights & Biases (WANDB_MODE=offline works)"),
    "wandb_project": ("pufferlib", "wandb project"),
    "wandb_group": ("debug", "wandb group"),
    "tag": (None, "tag for the run (wandb tag, sweep study name suffix)"),
    "save_frames": (0, "eval: write this many PNG frames (works with no display)"),
    "gif_path": (None, "eval: write a GIF of the frames to this path"),
    "frames_dir": (None, "eval: folder for PNG frames (default experiments/<env>/frames)"),
    "fps": (15, "eval: frames per second of the window and the GIF"),
    "eval_steps": (0, "eval: stop after this many steps (0 = until the window closes)"),
    "run_id": (None, "name of the run folder (default: a timestamp)"),
    "quiet": (False, "no dashboard; plain log lines only"),
    "web": (None, "export: write a web page (index.html, env.js, page.js, policy.js) to this folder"),
}


def flag_name(path):
    return "--" + ".".join(p.replace("_", "-") for p in path)


def config_flags(config, prefix=()):
    """(path tuple, default) for every leaf of the config."""
    for key, value in config.items():
        if isinstance(value, dict):
            yield from config_flags(value, prefix + (key,))
        else:
            yield prefix + (key,), value


def parse_bool(text, flag):
    lowered = str(text).strip().lower()
    if lowered in ("true", "1", "yes", "on"):
        return True
    if lowered in ("false", "0", "no", "off"):
        return False
    raise ConfigError(f"{flag}: expected a boolean (True/False, 1/0), got '{text}'")


def coerce(text, default, flag):
    """Parse a flag's text with the type of its default."""
    from .config import parse_value
    if isinstance(default, bool):
        return parse_bool(text, flag)
    if isinstance(default, int):
        try:
            number = float(str(text).replace("_", ""))
        except ValueError:
            raise ConfigError(f"{flag}: expected an integer, got '{text}'") from None
        if not number.is_integer():
            raise ConfigError(f"{flag}: expected an integer, got '{text}'")
        return int(number)
    if isinstance(default, float):
        try:
            return float(str(text).replace("_", ""))
        except ValueError:
            raise ConfigError(f"{flag}: expected a number, got '{text}'") from None
    if default is None:
        return parse_value(str(text))
    return str(text)


def set_path(config, path, value):
    node = config
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = value


def parse_args(argv, config):
    """Applies flags in argv to config (in place). Returns (options dict, help wanted)."""
    known = {flag_name(path): (path, default) for path, default in config_flags(config)}
    known.pop("--env-name", None)
    options = {k: v[0] for k, v in FIXED_FLAGS.items()}
    fixed = {flag_name((k,)): k for k in FIXED_FLAGS}
    want_help = False
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in ("-h", "--help"):
            want_help = True
            i += 1
            continue
        if not arg.startswith("--"):
            raise ConfigError(f"unexpected argument '{arg}' (flags look like --train.learning-rate 0.01)")
        name, eq, text = arg.partition("=")
        if name in fixed:
            key = fixed[name]
            if FIXED_FLAGS[key][0] is False and not eq:
                options[key] = True
                i += 1
                continue
        elif name not in known:
            hint = closest(name, list(known) + list(fixed))
            raise ConfigError(f"unknown flag '{name}'" + (f"; did you mean '{hint}'?" if hint else "")
                              + " (puffer train ENV --help lists every flag)")
        if not eq:
            if i + 1 >= len(argv):
                raise ConfigError(f"{name} needs a value")
            text = argv[i + 1]
            i += 1
        i += 1
        if name in fixed:
            key = fixed[name]
            default = FIXED_FLAGS[key][0]
            options[key] = coerce(text, default, name) if default is not None else text
        else:
            path, default = known[name]
            set_path(config, path, coerce(text, default, name))
    if options["slowly"]:
        options["backend"] = "torch"
    if options["backend"] not in ("auto", "native", "torch"):
        raise ConfigError(f"--backend: expected auto, native or torch, got '{options['backend']}'")
    return options, want_help


def help_text(mode, env_name, config):
    lines = [f"usage: puffer {mode} {env_name} [flags]", "", "options:"]
    for key, (default, text) in FIXED_FLAGS.items():
        lines.append(f"  {flag_name((key,)):<34} {text} (default: {default})")
    lines.append("")
    lines.append("config flags (defaults from default.ini and the env's ini):")
    for path, default in config_flags(config):
        if path == ("env_name",):
            continue
        lines.append(f"  {flag_name(path):<40} {default!r}")
    return "\n".join(lines)


def _check(cond, message):
    if not cond:
        raise ConfigError(message)


def validate(config):
    """Range checks that would otherwise fail deep inside a run."""
    t, v, p = config["train"], config["vec"], config["policy"]

    def num(section, key, lo=None, hi=None, lo_open=False, hi_open=False, integer=False):
        value = config[section][key] if section else config[key]
        flag = flag_name((section, key) if section else (key,))
        _check(isinstance(value, (int, float)) and not isinstance(value, bool),
               f"{flag}: expected a number, got {value!r}")
        _check(math.isfinite(value), f"{flag}: must be finite, got {value}")
        if integer:
            _check(float(value).is_integer(), f"{flag}: must be an integer, got {value}")
        if lo is not None:
            _check(value > lo if lo_open else value >= lo,
                   f"{flag}: must be {'>' if lo_open else '>='} {lo}, got {value}")
        if hi is not None:
            _check(value < hi if hi_open else value <= hi,
                   f"{flag}: must be {'<' if hi_open else '<='} {hi}, got {value}")

    num("train", "learning_rate", 0, lo_open=True)
    num("train", "total_timesteps", 1, integer=True)
    num("train", "horizon", 1, integer=True)
    num("train", "minibatch_size", 1, integer=True)
    num("train", "gamma", 0, 1, lo_open=True)
    num("train", "gae_lambda", 0, 1)
    num("train", "replay_ratio", 0, lo_open=True)
    num("train", "clip_coef", 0, lo_open=True)
    num("train", "vf_coef", 0)
    num("train", "vf_clip_coef", 0, lo_open=True)
    num("train", "max_grad_norm", 0, lo_open=True)
    num("train", "ent_coef", 0)
    num("train", "beta1", 0, 1, hi_open=True)
    num("train", "min_lr_ratio", 0, 1)
    num("train", "vtrace_rho_clip", 0, lo_open=True)
    num("train", "vtrace_c_clip", 0, lo_open=True)
    num("train", "prio_alpha", 0, 1)
    num("train", "prio_beta0", 0, 1)
    num("train", "gpus", 1, integer=True)
    num("vec", "total_agents", 1, integer=True)
    num("vec", "num_buffers", 1, integer=True)
    num("vec", "num_threads", 1, integer=True)
    num("policy", "hidden_size", 1, integer=True)
    num("policy", "num_layers", 1, integer=True)
    num(None, "checkpoint_interval", 1, integer=True)
    _check(str(v.get("device", "auto")) in ("auto", "cpu", "cuda") or
           (str(v["device"]).startswith("cuda:") and str(v["device"])[5:].isdigit()),
           f"--vec.device: expected auto, cpu, cuda or cuda:N, got {v.get('device')!r}")
    _check(v["total_agents"] % v["num_buffers"] == 0,
           f"--vec.total-agents ({v['total_agents']}) must be a multiple of --vec.num-buffers ({v['num_buffers']})")
    _check(t["minibatch_size"] % t["horizon"] == 0,
           f"--train.minibatch-size ({t['minibatch_size']}) must be a multiple of --train.horizon ({t['horizon']})")
    batch = t["horizon"] * v["total_agents"]
    _check(t["minibatch_size"] <= batch,
           f"--train.minibatch-size ({t['minibatch_size']}) must be <= the batch: horizon x total_agents = "
           f"{t['horizon']} x {v['total_agents']} = {batch}")
    _check(t["total_timesteps"] >= batch,
           f"--train.total-timesteps ({t['total_timesteps']}) must be >= one batch "
           f"(horizon x total_agents = {batch})")
    _check(config["torch"].get("network", "MinGRU") in ("MinGRU", "MLP", "LSTM"),
           f"--torch.network: expected MinGRU, MLP or LSTM, got {config['torch'].get('network')!r}")
    for key, value in config["env"].items():
        _check(isinstance(value, (int, float)),
               f"--env.{key.replace('_', '-')}: [env] values must be numbers, got {value!r}")
