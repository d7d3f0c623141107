"""puffer eval in a real window (Xvfb): F12 screenshots (raylib) and ctrl+F12 GIFs (ours)."""
import os
import shutil
import subprocess
import sys
import time

import pytest


def wait_for(check, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.3)
    return None


@pytest.fixture
def display():
    assert shutil.which("Xvfb") and shutil.which("xdotool"), "CI installs xvfb and xdotool"
    number = 90 + os.getpid() % 9
    server = subprocess.Popen(["Xvfb", f":{number}", "-screen", "0", "1024x768x24"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1)
    yield f":{number}"
    server.kill()
    server.wait()


def key(env, *keys):
    for k in keys:
        subprocess.run(["xdotool", "keydown", k], env=env, check=True)
    time.sleep(0.4)
    for k in reversed(keys):
        subprocess.run(["xdotool", "keyup", k], env=env, check=True)
    time.sleep(0.4)


def test_f12_and_ctrl_f12_in_window(display, tmp_path):
    env = {**os.environ, "DISPLAY": display}
    proc = subprocess.Popen([sys.executable, "-m", "pufferlib.pufferl", "eval", "squared", "--eval-steps", "400"],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        window = wait_for(lambda: subprocess.run(["xdotool", "search", "--name", "PufferLib"], env=env,
                                                 capture_output=True, text=True).stdout.split(), 30)
        assert window, "no window opened"
        subprocess.run(["xdotool", "windowactivate", "--sync", window[0]], env=env)
        time.sleep(1)
        for _ in range(3):  # a key event can land before the window has focus: press again
            key(env, "F12")
            if wait_for(lambda: list(tmp_path.glob("screenshot*.png")), 3):
                break
        assert list(tmp_path.glob("screenshot*.png"))
        for _ in range(3):
            key(env, "ctrl", "F12")
            time.sleep(1.5)
            key(env, "ctrl", "F12")
            if wait_for(lambda: list(tmp_path.glob("recording_*.gif")), 5):
                break
        time.sleep(1)  # let the GIF finish writing
        gif = list(tmp_path.glob("recording_*.gif"))
        assert gif
        from PIL import Image
        assert Image.open(gif[0]).size == (704, 704)
    finally:
        proc.kill()
        out = proc.communicate()[0]
    assert "recording a GIF" in out and "saved recording_000.gif" in out
