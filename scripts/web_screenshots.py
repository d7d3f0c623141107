"""Screenshots of the web pages for docs/web/: builds each page (bash build.sh ENV --web), opens
it in headless Chromium, lets it play for a few seconds and saves docs/web/<env>.png.

    python scripts/web_screenshots.py [--policy breakout=tests/data/breakout_tiny.bin] [ENV ...]
"""
import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python"))

from pufferlib import web  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("envs", nargs="*", default=["breakout", "pong", "squared"])
    parser.add_argument("--policy", action="append", default=[], metavar="ENV=PATH")
    parser.add_argument("--seconds", type=float, default=4.0)
    args = parser.parse_args()
    policies = dict(item.split("=", 1) for item in args.policy)

    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1000,640"):
        options.add_argument(arg)
    options.binary_location = "/usr/bin/chromium"
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    out_dir = ROOT / "docs" / "web"
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        for env in args.envs:
            folder = web.build_page(env, ROOT / "build" / "web" / env, model_path=policies.get(env))
            driver.get((folder / "index.html").resolve().as_uri())
            time.sleep(args.seconds)
            error = driver.execute_script("return window.puffer.error")
            if error:
                raise SystemExit(f"{env}: {error}")
            if not policies.get(env):
                driver.execute_script("puffer.setAgent('random')")
            driver.execute_script("puffer.setSpeed(4)")  # a few points on the board
            time.sleep(args.seconds)
            driver.save_screenshot(str(out_dir / f"{env}.png"))
            print(f"wrote {out_dir / (env + '.png')}")
    finally:
        driver.quit()


if __name__ == "__main__":
    main()
