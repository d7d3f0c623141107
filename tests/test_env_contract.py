"""The portable env contract (envs/ocean.h): every env's step compiles as CUDA device code, and an
env that breaks a rule fails the check with a line naming the env and the rule. Needs nvcc (no GPU)."""
import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHECK = os.path.join(ROOT, "scripts", "check_env_device.py")
needs_nvcc = pytest.mark.skipif(shutil.which("nvcc") is None and not os.environ.get("PUFFER_REQUIRE_NVCC"),
                                reason="nvcc not installed (the CUDA toolkit compiles device code; no GPU needed)")


def run_check(*args):
    return subprocess.run([sys.executable, CHECK, *args], capture_output=True, text=True)


@needs_nvcc
def test_every_shipped_env_steps_as_device_code():
    proc = run_check()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    listed = open(os.path.join(ROOT, "envs", "CMakeLists.txt")).read().count("\npuffer_add_env(")
    assert proc.stdout.count("steps as device code") == listed >= 9


BREAKS = {
    # name: (text replaced in squared.h, replacement, words the report must contain)
    "helper_not_portable": ("PUFFER_FN void squared_observe", "static void squared_observe",
                            ["c_step calls squared_observe", "not PUFFER_FN"]),
    "rand_r": ("puffer_randint(&env->rng, s * s - 1)", "rand_r(&env->rng) % (s * s - 1)",
               ["c_reset calls rand_r"]),
    "malloc": ("    env->tick = 0;\n", "    env->tick = 0;\n    free(malloc(4));\n",
               ["no allocation in step code"]),
    "printf": ("    env->tick += 1;\n", '    env->tick += 1;\n    printf("tick %d", env->tick);\n',
               ["no stdio in step code"]),
    "file_scope_table": ("PUFFER_FN void c_step(Squared* env) {\n",
                         "static const int MOVES[5] = {0, 1, -1, 0, 0};\n"
                         "PUFFER_FN void c_step(Squared* env) {\n    env->tick += MOVES[0];\n",
                         ["MOVES is a global or file-scope table"]),
}


@needs_nvcc
@pytest.mark.parametrize("rule", sorted(BREAKS))
def test_a_broken_rule_is_named(tmp_path, rule):
    old, new, words = BREAKS[rule]
    for name in ("squared.h", "binding.c"):
        shutil.copy(os.path.join(ROOT, "envs", "squared", name), tmp_path / name)
    header = (tmp_path / "squared.h").read_text()
    assert old in header
    (tmp_path / "squared.h").write_text(header.replace(old, new, 1))
    proc = run_check("--dir", str(tmp_path), "--name", "mine")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "env mine breaks the portable env contract" in proc.stdout
    for w in words:
        assert w in proc.stdout, proc.stdout


@needs_nvcc
def test_unknown_env_is_a_clear_error():
    proc = run_check("nosuchenv")
    assert proc.returncode == 2 and "unknown env 'nosuchenv'" in proc.stderr
