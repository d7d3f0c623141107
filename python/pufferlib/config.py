"""Config: default.ini, then the env's <name>.ini, then overrides (CLI flags).

A config is a nested dict. [base] keys sit at the top level (config['seed']); other
sections are dicts (config['train']['learning_rate']); sweep parameter sections nest
(config['sweep']['train']['learning_rate']['max']).
"""
import ast
import configparser
import difflib
import os
from pathlib import Path

CONFIG_DIR = Path(__file__).parent / "config"
SECTIONS = ("vec", "env", "policy", "torch", "train", "sweep")


class ConfigError(ValueError):
    """A bad config value or flag; the CLI prints it and exits with code 2."""


def parse_value(text):
    """An ini literal: numbers, True/False, None, quoted or bare strings."""
    text = text.strip()
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered == "none":
        return None
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _read_ini(path):
    parser = configparser.ConfigParser(interpolation=None, delimiters=("=",),
                                       comment_prefixes=("#", ";"), inline_comment_prefixes=("#",))
    parser.optionxform = str
    try:
        parser.read(path)
    except configparser.Error as e:
        raise ConfigError(f"{path}: {e}") from None
    return parser


def config_files():
    """Env ini files shipped with the package (and extra dirs in $PUFFER_CONFIG_PATH)."""
    dirs = [CONFIG_DIR] + [Path(p) for p in os.environ.get("PUFFER_CONFIG_PATH", "").split(":") if p]
    files = []
    for d in dirs:
        files += sorted(p for p in d.glob("*.ini") if p.name != "default.ini")
    return files


def env_names_in(path):
    parser = _read_ini(path)
    if not parser.has_option("base", "env_name"):
        return []
    return str(parse_value(parser.get("base", "env_name"))).split()


def find_env_ini(env_name):
    for path in config_files():
        if env_name in env_names_in(path):
            return path
    return None


def _merge_ini(config, path):
    parser = _read_ini(path)
    for section in parser.sections():
        items = {k: parse_value(v) for k, v in parser.items(section)}
        if section == "base":
            config.update(items)
            continue
        parts = section.split(".")
        node = config
        for part in parts:
            node = node.setdefault(part, {})
        node.update(items)
    return config


def load_config(env_name):
    """default.ini + the env's ini. Unknown env: ConfigError listing the available ones."""
    config = {s: {} for s in SECTIONS}
    _merge_ini(config, CONFIG_DIR / "default.ini")
    path = find_env_ini(env_name)
    if path is not None:
        _merge_ini(config, path)
    config["env_name"] = env_name
    return config


def closest(name, options):
    match = difflib.get_close_matches(name, list(options), n=1, cutoff=0.5)
    return match[0] if match else None
