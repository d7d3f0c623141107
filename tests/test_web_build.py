"""Web builds (emscripten): pages for breakout, pong and squared; a call outside the browser's
raylib subset fails the build with its name; build.sh and puffer export front ends."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pufferlib import web

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("PUFFER_SOURCE_DIR", str(ROOT))  # the installed package builds from this checkout
TEST_ENV = ROOT / "tests" / "web_envs" / "offsubset"

pytestmark = pytest.mark.skipif(shutil.which("emcc") is None, reason="needs emscripten (apt-get install emscripten)")


@pytest.mark.parametrize("env_name", ["breakout", "pong", "squared"])
def test_page_is_built(tmp_path, env_name):
    out = web.build_page(env_name, tmp_path / env_name, out=lambda *_: None)
    for name in ("index.html", "env.js", "page.js", "policy.js"):
        assert (out / name).is_file(), name
    assert (out / "env.js").stat().st_size < 1_000_000  # wasm + js under 1 MB without weights
    assert "var PUFFER_POLICY = null;" in (out / "policy.js").read_text()
    html = (out / "index.html").read_text()
    assert f'"env": "{env_name}"' in html and "@SETUP@" not in html
    assert not (out / ".build").exists()


def test_call_outside_the_subset_fails_by_name(tmp_path):
    with pytest.raises(web.WebBuildError) as failure:
        web.build_page("offsubset", tmp_path / "bad", binding=TEST_ENV / "binding_ellipse.c", out=lambda *_: None)
    first_line = str(failure.value).splitlines()[0]
    assert "DrawEllipse" in first_line and "envs/web/raylib.h" in first_line, first_line
    # The same env drawing with DrawCircle (in the subset) builds.
    web.build_page("offsubset", tmp_path / "good", binding=TEST_ENV / "binding.c", out=lambda *_: None)
    assert (tmp_path / "good" / "env.js").is_file()


def test_bad_keymap_is_one_clear_error():
    with pytest.raises(web.ConfigError, match="bad key binding 'LEFTT=1'"):
        web.parse_keymap("LEFTT=1", "0", "[web] of breakout")
    keys, idle = web.parse_keymap("LEFT=1 a=0:2 7=3", "4 keep", "x")
    assert keys == [("KEY_LEFT", 0, 1.0), ("KEY_A", 0, 2.0), ("KEY_SEVEN", 0, 3.0)]
    assert idle[0] == 4.0 and idle[1] != idle[1]


def run(args, **kw):
    return subprocess.run(args, capture_output=True, text=True, cwd=ROOT, **kw)


def test_build_sh_web(tmp_path):
    bad = run(["bash", "build.sh", "breakout", "--web", "--load-model-path"])
    assert bad.returncode == 2 and "needs a value" in bad.stderr
    missing = run(["bash", "build.sh", "breakout", "--web", "--load-model-path", str(tmp_path / "none.bin")])
    assert missing.returncode == 2 and "checkpoint not found" in missing.stderr
    ok = run(["bash", "build.sh", "pong", "--web"])
    assert ok.returncode == 0, ok.stderr
    assert (ROOT / "build" / "web" / "pong" / "index.html").is_file()


def test_puffer_export_web(tmp_path):
    cmd = [sys.executable, "-m", "pufferlib.pufferl", "export", "squared"]
    missing = run(cmd)
    assert missing.returncode == 2 and "--web DIR" in missing.stderr
    ok = run(cmd + ["--web", str(tmp_path / "page")])
    assert ok.returncode == 0, ok.stderr
    assert (tmp_path / "page" / "index.html").is_file()


def test_puffer_export_web_with_a_policy(tmp_path):
    model = ROOT / "tests" / "data" / "breakout_tiny.bin"
    ok = run([sys.executable, "-m", "pufferlib.pufferl", "export", "breakout", "--load-model-path", str(model),
              "--web", str(tmp_path / "page")])
    assert ok.returncode == 0, ok.stderr
    script = (tmp_path / "page" / "policy.js").read_text()
    assert '"hidden_size": 64' in script and '"num_layers": 2' in script and '"global_step": 2883584' in script
    wrong_env = run([sys.executable, "-m", "pufferlib.pufferl", "export", "pong", "--load-model-path", str(model),
                     "--web", str(tmp_path / "pong")])
    assert wrong_env.returncode == 2 and "trained on breakout" in wrong_env.stderr
    assert not (tmp_path / "pong").exists()  # nothing written before validation
