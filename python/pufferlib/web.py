"""Web pages: one env (and optionally its trained policy) compiled to WebAssembly and played on a
canvas. `bash build.sh ENV --web [--load-model-path PATH|latest]` and `puffer export ENV --web DIR
[--load-model-path ...]` both call build_page().

The page folder holds
    index.html   the page (envs/web/index.html with this env's settings)
    env.js       the env, the browser raylib subset and the policy forward, compiled by emcc;
                 the wasm is inside it (SINGLE_FILE), because browsers refuse to fetch a .wasm
                 next to a page opened from file://
    page.js      the loop, the controls and window.puffer (envs/web/page.js)
    policy.js    the policy's fp32 weights (the checkpoint payload, base64) and shape, or null
It needs the PufferLib source tree (envs/, kernels/) and Debian's emscripten (emcc).
"""
import base64
import json
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from . import checkpoint
from .config import ConfigError, _merge_ini, load_config

ROOT = Path(__file__).resolve().parents[2]
KERNELS = ("linear.c", "mingru.c", "sample.c")  # the C reference forward of the native trainer
KEY_NAMES = {"LEFT", "RIGHT", "UP", "DOWN", "SPACE", "ENTER", "TAB", "ESCAPE", "BACKSPACE",
             *[chr(c) for c in range(ord("A"), ord("Z") + 1)], *[str(d) for d in range(10)]}
DIGIT_KEYS = {"0": "ZERO", "1": "ONE", "2": "TWO", "3": "THREE", "4": "FOUR", "5": "FIVE",
              "6": "SIX", "7": "SEVEN", "8": "EIGHT", "9": "NINE"}


class WebBuildError(RuntimeError):
    """The web build failed (compiler or missing tool); the message says why in one line."""


def source_root():
    """The PufferLib source tree: $PUFFER_SOURCE_DIR, this module's checkout (editable installs,
    build.sh), or the working directory."""
    candidates = [os.environ.get("PUFFER_SOURCE_DIR"), ROOT, Path.cwd()]
    for folder in filter(None, candidates):
        if (Path(folder) / "envs" / "web" / "play.c").is_file():
            return Path(folder).resolve()
    raise WebBuildError("web builds need the PufferLib source tree (envs/, kernels/): run from a checkout "
                        "or set PUFFER_SOURCE_DIR to one")


def env_binding(env_name, root):
    """envs/<dir>/<binding.c> of env_name, from the puffer_add_env table in envs/CMakeLists.txt."""
    table = (root / "envs" / "CMakeLists.txt").read_text()
    names = []
    for m in re.finditer(r"^puffer_add_env\((\w+)([^)]*)\)", table, re.M):
        name, rest = m.group(1), m.group(2)
        names.append(name)
        if name != env_name:
            continue
        folder = re.search(r"\bDIR\s+(\w+)", rest)
        binding = re.search(r"\bBINDING\s+([\w.]+)", rest)
        return root / "envs" / (folder.group(1) if folder else name) / (binding.group(1) if binding else "binding.c")
    raise ConfigError(f"unknown env '{env_name}'. Available: {', '.join(names)}")


def _key_const(name):
    return "KEY_" + DIGIT_KEYS.get(name, name)


def parse_keymap(spec, idle, where):
    """'LEFT=1 A=1 RIGHT=0:2' and '0 keep' -> ([(KEY_X, head, value)], [idle per head or nan])."""
    keys = []
    for item in str(spec or "").split():
        name, sep, action = item.partition("=")
        name = name.upper()
        if not sep or name not in KEY_NAMES:
            raise ConfigError(f"{where}: bad key binding '{item}' (allowed: KEY=ACTION or KEY=HEAD:ACTION, "
                              f"KEY one of LEFT RIGHT UP DOWN SPACE ENTER TAB ESCAPE BACKSPACE A-Z 0-9)")
        head, _, value = action.rpartition(":")
        try:
            keys.append((_key_const(name), int(head or 0), float(value)))
        except ValueError:
            raise ConfigError(f"{where}: bad action in '{item}' (expected a number, "
                              f"or HEAD:NUMBER with an integer head)") from None
    idles = []
    for word in str(idle if idle is not None else "keep").split():
        if word == "keep":
            idles.append(math.nan)
            continue
        try:
            idles.append(float(word))
        except ValueError:
            raise ConfigError(f"{where}: bad idle action '{word}' (a number per head, or keep)") from None
    return keys, idles


def describe_keys(spec):
    """'LEFT=1 A=1 RIGHT=2' -> 'LEFT/A: 1, RIGHT: 2' for the page's hint line."""
    by_action = {}
    for item in str(spec or "").split():
        name, _, action = item.partition("=")
        by_action.setdefault(action, []).append(name.upper())
    return ", ".join(f"{'/'.join(names)}: {action}" for action, names in by_action.items()) or "none"


def _c_float(x):
    return "NAN" if math.isnan(x) else repr(float(x)) + "f"


def config_header(kwargs, keymaps):
    """web_config.h: the env's [env] kwargs and its keymaps (discrete, continuous) as C."""
    lines = ["// web_config.h: written by pufferlib/web.py for one web build.",
             f"#define WEB_KWARGS {len(kwargs)}"]
    keys = ", ".join(json.dumps(k) for k in kwargs) or "0"
    values = ", ".join(repr(float(v)) for v in kwargs.values()) or "0"
    lines += [f"static const char* const web_kwarg_keys[] = {{{keys}}};",
              f"static const double web_kwarg_values[] = {{{values}}};"]
    for i, (keys_, idles) in enumerate(keymaps):
        bindings = ", ".join(f"{{{k}, {h}, {_c_float(v)}}}" for k, h, v in keys_) or "{0, 0, 0.0f}"
        lines += [f"static const WebKey web_keys_{i}[] = {{{bindings}}};",
                  f"static const float web_idle_{i}[] = {{{', '.join(map(_c_float, idles)) or '0.0f'}}};"]
    lines.append("static const WebKeymap web_keymaps[2] = {" + ", ".join(
        f"{{{len(k)}, web_keys_{i}, {len(idl)}, web_idle_{i}}}" for i, (k, idl) in enumerate(keymaps)) + "};")
    return "\n".join(lines) + "\n"


def find_emcc():
    emcc = shutil.which("emcc")
    if emcc is None:
        raise WebBuildError("web builds need emscripten's emcc on PATH (apt-get install emscripten)")
    return emcc


def compile_error(output, binding):
    """One line naming what the compiler refused, for the common case of a raylib call outside
    the web subset; None when the output is something else."""
    calls = sorted(set(re.findall(r"implicit declaration of function '(\w+)'", output)
                       + re.findall(r"call to undeclared function '(\w+)'", output)
                       + re.findall(r"undefined symbol: (\w+)", output)))
    types = sorted(set(re.findall(r"unknown type name '(\w+)'", output)))
    if not calls and not types:
        return None
    env = binding.parent.name
    what = ", ".join(calls + types)
    return (f"web build of {env}: {what} {'is' if len(calls + types) == 1 else 'are'} not in the browser's "
            f"raylib subset (envs/web/raylib.h); draw with the calls declared there, or add the call "
            f"to envs/web/raylib.h, raylib_web.c and canvas.js")


def compile_env(binding, gen_dir, out_js, root=None, emcc=None):
    """emcc the env's binding + the web runtime + the policy kernels into out_js (wasm inside)."""
    root = root or source_root()
    emcc = emcc or find_emcc()
    web, kernels = root / "envs" / "web", root / "kernels"
    sources = [web / "play.c", web / "raylib_web.c", web / "policy.c"] + [kernels / "cpu" / k for k in KERNELS]
    # env_abi.h (envs/) for the binding; kernels.h for the policy.
    includes = [gen_dir, web, root / "envs", kernels]
    exports = ["_malloc", "_free", "_puffer_web_target_fps"]
    # -msimd128: wasm SIMD (every current browser) runs the policy's GEMMs about twice as fast.
    cmd = [emcc, "-O2", "-msimd128", "-std=gnu11", "-Werror=implicit-function-declaration", "-Wno-unknown-pragmas",
           "-DPUFFER_RENDER=1", "-D_DEFAULT_SOURCE", f'-DWEB_BINDING="{binding}"',
           *[f"-I{p}" for p in includes], *map(str, sources),
           "--js-library", str(web / "canvas.js"),
           "-sMODULARIZE=1", "-sEXPORT_NAME=createPufferEnv", "-sSINGLE_FILE=1", "-sENVIRONMENT=web",
           "-sALLOW_MEMORY_GROWTH=1", "-sFILESYSTEM=0", f"-sEXPORTED_FUNCTIONS={json.dumps(exports)}",
           '-sEXPORTED_RUNTIME_METHODS=["UTF8ToString"]', "-o", str(out_js)]
    env = dict(os.environ)
    env.setdefault("NODE_PATH", "/usr/share/nodejs")  # Debian's emscripten finds its node modules there
    result = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        output = result.stdout + result.stderr
        message = compile_error(output, binding)
        raise WebBuildError((message or f"emcc failed for {binding}") + "\n" + output.strip())


def policy_script(header, tensors, env_name):
    """policy.js: the checkpoint's shape and its payload in checkpoint order, base64 fp32."""
    network = header.get("network", "MinGRU")
    if network != "MinGRU":
        raise checkpoint.CheckpointError(f"the web page runs MinGRU policies; this checkpoint's network is {network}")
    policy = header.get("policy", {})
    order = [t["name"] for t in header["tensors"]]
    num_layers = sum(name.startswith("layers.") for name in order)
    expected = ["encoder", "decoder"] + (["logstd"] if "logstd" in tensors else []) + \
               [f"layers.{i}" for i in range(num_layers)]
    if order != expected:
        raise checkpoint.CheckpointError(f"unexpected tensors {order} (a PufferNet checkpoint has {expected})")
    import numpy as np
    payload = b"".join(np.ascontiguousarray(tensors[n], dtype="<f4").tobytes() for n in order)
    hidden = int(tensors["encoder"].shape[0])
    data = {"env": env_name, "hidden_size": hidden, "num_layers": num_layers,
            "obs_size": header.get("obs_size"), "act_sizes": header.get("act_sizes"),
            "global_step": header.get("global_step", 0), "backend": header.get("backend"),
            "policy": policy, "weights": base64.b64encode(payload).decode()}
    return "var PUFFER_POLICY = " + json.dumps(data) + ";\n"


def run_config(model_path):
    """The config.json of the run a checkpoint came from (its folder or the one above), or None."""
    for folder in (model_path.parent, model_path.parent.parent):
        path = folder / "config.json"
        if path.is_file():
            try:
                return json.loads(path.read_text())
            except ValueError:
                return None
    return None


def build_page(env_name, out_dir, model_path=None, data_dir="experiments", binding=None, config=None,
               seed=1, out=print):
    """Writes the page folder; returns its path. ConfigError / CheckpointError / WebBuildError.

    config: the env's config (default: default.ini + the source tree's <env>.ini); with a model,
    the [env] section of the run it came from (its config.json) wins, so the page plays the env
    the policy was trained on."""
    root = source_root()
    binding = Path(binding) if binding else env_binding(env_name, root)
    if config is None:
        config = load_config(env_name)
        ini = binding.parent / f"{binding.parent.name}.ini"
        if ini.is_file():
            _merge_ini(config, ini)  # the source tree's ini: what this build compiles against
    config = {**config, "env": dict(config.get("env", {}))}
    header = tensors = None
    if model_path:
        path = checkpoint.resolve(model_path, data_dir, env_name)
        header, tensors = checkpoint.load_for_env(path, env_name)
        trained = run_config(Path(path))
        if trained and isinstance(trained.get("env"), dict):
            config["env"] = trained["env"]  # play with the settings it was trained on
        out(f"web: policy from {path}")
    kwargs = {}
    for key, value in config.get("env", {}).items():
        if not isinstance(value, (bool, int, float)):
            raise ConfigError(f"[env] key '{key}' of env {env_name} must be a number, got {value!r}")
        kwargs[key] = float(value)
    web = config.get("web", {})
    where = f"[web] of {env_name}"
    keymaps = [parse_keymap(web.get("keys"), web.get("idle"), where),
               parse_keymap(web.get("continuous_keys"), web.get("continuous_idle"), where)]

    script = policy_script(header, tensors, env_name) if header else "var PUFFER_POLICY = null;\n"
    # The page's hint line: the keys of the discrete map, or of the continuous one when the env's
    # actions are continuous (page.js picks, as play.c does).
    setup = {"env": env_name, "seed": int(seed), "keys": describe_keys(web.get("keys")),
             "continuous_keys": describe_keys(web.get("continuous_keys"))}

    out_dir = Path(out_dir)
    gen = out_dir / ".build"
    gen.mkdir(parents=True, exist_ok=True)
    try:
        (gen / "web_config.h").write_text(config_header(kwargs, keymaps))
        compile_env(binding, gen, out_dir / "env.js", root=root)
    finally:
        shutil.rmtree(gen, ignore_errors=True)
    page = (root / "envs" / "web" / "index.html").read_text()
    (out_dir / "index.html").write_text(page.replace("@SETUP@", json.dumps(setup)))
    shutil.copyfile(root / "envs" / "web" / "page.js", out_dir / "page.js")
    (out_dir / "policy.js").write_text(script)
    size = (out_dir / "env.js").stat().st_size
    out(f"web: {out_dir}/index.html (env.js {size / 1024:.0f} KB with the wasm inside"
        + (f", policy.js {(out_dir / 'policy.js').stat().st_size / 1024:.0f} KB" if header else ", no policy: keyboard") + ")")
    return out_dir


USAGE = "usage: python -m pufferlib.web ENV [--load-model-path PATH|latest] [--out DIR]"


def main(argv=None):
    """bash build.sh ENV --web [--load-model-path PATH|latest] -> build/web/ENV/."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0].startswith("-"):
        print(USAGE, file=sys.stderr)
        return 2
    env_name, model, out_dir = argv[0], None, None
    rest = argv[1:]
    while rest:
        flag = rest.pop(0)
        if flag in ("--load-model-path", "--out") and rest:
            value = rest.pop(0)
            if flag == "--out":
                out_dir = value
            else:
                model = value
        else:
            print(f"web: unknown or incomplete flag '{flag}'\n{USAGE}", file=sys.stderr)
            return 2
    try:
        build_page(env_name, out_dir or Path("build") / "web" / env_name, model_path=model)
    except (ConfigError, checkpoint.CheckpointError) as e:
        print(f"web: error: {e}", file=sys.stderr)
        return 2
    except WebBuildError as e:
        print(f"web: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
