"""PufferLib: fast and sane reinforcement learning."""
__version__ = "4.1.0"

from .config import ConfigError, load_config
from .envs import UnknownEnvError, available_envs, make

__all__ = ["make", "available_envs", "load_config", "ConfigError", "UnknownEnvError"]
