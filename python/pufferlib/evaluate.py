"""puffer eval: render env 0 with a trained or random policy; frames and GIFs headlessly."""
from pathlib import Path

import numpy as np

from . import checkpoint
from .envs import has_display, make


class RandomAgent:
    def __init__(self, vec, seed=0):
        self.vec = vec
        self.rng = np.random.default_rng(seed)

    def act(self, obs):
        cols = [self.rng.integers(0, s, self.vec.num_agents) if s > 1
                else self.rng.normal(0, 1, self.vec.num_agents) for s in self.vec.act_sizes]
        return np.stack(cols, axis=1).astype(np.float32)


class PolicyAgent:
    """A checkpoint's policy on the CPU (torch), recurrent state carried step to step."""

    def __init__(self, vec, config, tensors, header):
        import torch
        from .models import make_policy
        config = {**config, "policy": {**config["policy"], **header.get("policy", {})}}
        config["torch"] = {**config.get("torch", {}), "network": header.get("network", "MinGRU")}
        self.torch = torch
        self.policy = make_policy(vec.obs_size, vec.act_sizes, config)
        try:
            self.policy.load_state_dict({k: torch.from_numpy(v) for k, v in tensors.items()})
        except RuntimeError as e:
            raise checkpoint.CheckpointError(f"checkpoint does not fit the {vec.name} policy: {e}") from None
        self.policy.eval()
        self.state = self.policy.initial_state(vec.num_agents)
        self.generator = torch.Generator().manual_seed(int(config["seed"]))
        self.vec = vec

    def act(self, obs):
        torch = self.torch
        from .models import sample_actions
        with torch.no_grad():
            done = torch.from_numpy(np.maximum(self.vec.terminals, self.vec.truncations).astype(np.float32))
            self.state = self.state * (1.0 - done.view(1, -1, 1))  # new episode: fresh memory
            x = torch.from_numpy(np.asarray(obs))
            logits, _, self.state = self.policy.forward_step(x, self.state)
            actions, _ = sample_actions(logits, self.policy.logstd, self.vec.act_sizes, self.generator)
        return actions.float().reshape(self.vec.num_agents, -1).numpy()


def evaluate(config, options, out=print):
    env_name = config["env_name"]
    frames = int(options.get("save_frames") or 0)
    gif_path = options.get("gif_path")
    if gif_path and frames == 0:
        frames = 100
    if gif_path:
        try:
            import PIL  # noqa: F401
        except ImportError:
            raise RuntimeError("--gif-path needs Pillow: pip install pillow") from None
    display = has_display()
    if not display and frames == 0:
        out(f"puffer eval {env_name}: no display found (DISPLAY is not set), so no window can open. "
            f"Write frames instead: --save-frames N (PNG files) and/or --gif-path out.gif")
        return 1
    vec = make(env_name, total_agents=None, seed=int(config["seed"]),
               render="desktop" if display and frames == 0 else "headless", **config["env"])
    agent = RandomAgent(vec, seed=int(config["seed"]))
    if options.get("load_model_path"):
        path = checkpoint.resolve(options["load_model_path"], config["data_dir"], env_name)
        header, tensors = checkpoint.load_for_env(path, env_name)
        agent = PolicyAgent(vec, config, tensors, header)
        out(f"puffer eval {env_name}: policy from {path}")
    else:
        out(f"puffer eval {env_name}: random agent (no --load-model-path)")
    frames_dir = Path(options.get("frames_dir") or Path(config["data_dir"]) / env_name / "frames")
    if frames:
        frames_dir.mkdir(parents=True, exist_ok=True)
    limit = int(options.get("eval_steps") or 0)
    obs = vec.reset(int(config["seed"]))
    written, step, returns = [], 0, 0.0
    capture = KeyCapture(vec, int(options.get("fps") or 15), out)
    try:
        while True:
            vec.render(0)
            capture.after_render()
            if frames:
                path = frames_dir / f"frame_{step:05d}.png"
                vec.save_frame(path)
                written.append(path)
                if len(written) >= frames:
                    break
            if vec.window_closed() or (limit and step >= limit):
                break
            obs, rew, _, _ = vec.step(agent.act(obs))
            returns += float(rew.sum())
            step += 1
    finally:
        capture.finish()
        log = vec.log()
        vec.close()
    if written:
        out(f"wrote {len(written)} frames to {frames_dir}")
    if gif_path:
        write_gif(written, gif_path, int(options.get("fps") or 15))
        out(f"wrote {gif_path}")
    if log.get("n"):
        out("episodes: " + ", ".join(f"{k} {v:.4g}" for k, v in log.items()))
    return 0


class KeyCapture:
    """In the window: ctrl+F12 starts/stops recording_NNN.gif. F12 alone is raylib's own
    screenshot (screenshotNNN.png in the working folder); this raylib build has no GIF recorder."""

    def __init__(self, vec, fps, out):
        self.vec, self.fps, self.out = vec, fps, out
        self.gifs = 0
        self.recording = None  # temporary folder of frames while recording

    def after_render(self):
        import tempfile
        key = self.vec.capture_key()
        if key == 1:
            self.out("screenshot saved (screenshotNNN.png in the working folder)")
        elif key == 2:
            if self.recording is None:
                self.recording = (tempfile.TemporaryDirectory(), [])
                self.out("recording a GIF (ctrl+F12 again to stop)")
            else:
                self.finish()
        if self.recording is not None:
            folder, frames = self.recording
            frames.append(Path(folder.name) / f"{len(frames):05d}.png")
            self.vec.save_frame(frames[-1])

    def finish(self):
        if self.recording is None:
            return
        folder, frames = self.recording
        self.recording = None
        if frames:
            path = f"recording_{self.gifs:03d}.gif"
            write_gif(frames, path, self.fps)
            self.gifs += 1
            self.out(f"saved {path} ({len(frames)} frames)")
        folder.cleanup()


def write_gif(paths, gif_path, fps):
    try:
        from PIL import Image
    except ImportError:
        raise RuntimeError("--gif-path needs Pillow: pip install pillow") from None
    images = [Image.open(p).convert("RGB") for p in paths]
    Path(gif_path).parent.mkdir(parents=True, exist_ok=True)
    images[0].save(gif_path, save_all=True, append_images=images[1:], duration=int(1000 / max(fps, 1)), loop=0)
