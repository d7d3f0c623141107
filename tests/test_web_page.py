"""The web pages in a real headless Chromium (Debian chromium + chromedriver, driven by selenium),
opened from file://. breakout with the committed tiny policy (tests/data/breakout_tiny.bin, see
tests/data/README.md): the policy's mean score beats the random agent's in the same page, the canvas
is drawn, Shift hands agent 0 to the keyboard. pong and squared: their pages run and draw."""
import os
import shutil
import time
from pathlib import Path

import pytest

from pufferlib import web

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("PUFFER_SOURCE_DIR", str(ROOT))  # the installed package builds from this checkout
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
TINY_POLICY = ROOT / "tests" / "data" / "breakout_tiny.bin"

pytestmark = [
    pytest.mark.skipif(shutil.which("emcc") is None, reason="needs emscripten (apt-get install emscripten)"),
    pytest.mark.skipif(not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()),
                       reason="needs chromium and chromium-driver (apt-get install chromium chromium-driver)"),
]

# window.puffer without its functions, and what the canvas holds: how many pixels differ from the
# top-left (background) pixel and how many distinct colours it has.
READ = """
var p = {};
for (var k in window.puffer) if (typeof window.puffer[k] !== 'function') p[k] = window.puffer[k];
var c = document.getElementById('canvas');
var d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
var colours = {}, drawn = 0;
for (var i = 0; i < d.length; i += 4) {
  var key = d[i] + ',' + d[i + 1] + ',' + d[i + 2];
  colours[key] = 1;
  if (d[i] !== d[0] || d[i + 1] !== d[1] || d[i + 2] !== d[2]) drawn++;
}
p.canvas = {width: c.width, height: c.height, drawn: drawn, colours: Object.keys(colours).length};
return p;
"""


@pytest.fixture(scope="module")
def browser():
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1000,700",
                "--allow-file-access-from-files"):
        options.add_argument(arg)
    options.binary_location = CHROMIUM
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


def open_page(browser, folder):
    browser.get((Path(folder) / "index.html").resolve().as_uri())
    deadline = time.time() + 30
    while time.time() < deadline:
        state = browser.execute_script("return window.puffer && [window.puffer.ready, window.puffer.error]")
        if state and (state[0] or state[1]):
            assert not state[1], state[1]
            return
        time.sleep(0.1)
    raise AssertionError("the page did not start within 30 s")


def play(browser, agent, seconds, min_episodes):
    """Plays `agent` at full speed until `seconds` passed and `min_episodes` finished."""
    browser.execute_script(f"puffer.setAgent('{agent}'); puffer.setSpeed('max')")
    start = time.time()
    while True:
        time.sleep(0.5)
        state = browser.execute_script(READ)
        if time.time() - start >= seconds and (state["episode"] >= min_episodes or time.time() - start > 60):
            return state


@pytest.fixture(scope="module")
def breakout_page(tmp_path_factory):
    return web.build_page("breakout", tmp_path_factory.mktemp("web") / "breakout", model_path=TINY_POLICY,
                          out=lambda *_: None)


def test_breakout_policy_plays_in_the_browser(browser, breakout_page):
    open_page(browser, breakout_page)
    first = browser.execute_script(READ)
    assert first["agent"] == "policy" and first["env"] == "breakout"
    assert first["canvas"]["width"] == 576 and first["canvas"]["height"] == 330  # native size

    policy = play(browser, "policy", 4, 20)
    random = play(browser, "random", 3, 50)
    assert policy["episode"] >= 20 and random["episode"] >= 50, (policy, random)
    # Random play scores ~1.2 points per episode; the tiny policy several times that.
    assert policy["score"] > 2 * random["score"] + 1, (policy["score"], random["score"])
    assert policy["sps"] > 0 and policy["steps"] > 2000, policy

    canvas = policy["canvas"]
    assert canvas["drawn"] > 0.05 * canvas["width"] * canvas["height"], canvas  # bricks, paddle, text
    assert canvas["colours"] >= 4, canvas


def test_shift_hands_control_to_the_keyboard(browser, breakout_page):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys
    open_page(browser, breakout_page)
    browser.execute_script("puffer.setSpeed(1)")
    time.sleep(0.5)
    assert browser.execute_script("return window.puffer.keyboard") is False
    canvas = browser.find_element("id", "canvas")
    ActionChains(browser).click(canvas).key_down(Keys.SHIFT).perform()
    time.sleep(0.5)
    held = browser.execute_script("return [window.puffer.keyboard, window.puffer.agent]")
    ActionChains(browser).key_up(Keys.SHIFT).perform()
    time.sleep(0.5)
    released = browser.execute_script("return window.puffer.keyboard")
    assert held == [True, "policy"] and released is False, (held, released)


@pytest.mark.parametrize("env_name", ["pong", "squared", "tetris", "maze"])
def test_demo_pages_run_and_draw(browser, tmp_path, env_name):
    folder = web.build_page(env_name, tmp_path / env_name, out=lambda *_: None)
    open_page(browser, folder)
    state = play(browser, "random", 2, 1)
    assert state["agent"] == "random" and state["steps"] > 1000 and state["episode"] >= 1, state
    assert state["canvas"]["drawn"] > 0 and state["canvas"]["colours"] >= 2, state["canvas"]
