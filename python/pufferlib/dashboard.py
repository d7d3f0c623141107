"""Terminal dashboard (rich), redrawn at most every 0.6 s; plain log lines when stdout is
not a terminal or with --quiet."""
import sys
import time

REDRAW_SECONDS = 0.6


def _fmt(value):
    if isinstance(value, float):
        if value != 0 and (abs(value) >= 1e5 or abs(value) < 1e-3):
            return f"{value:.3e}"
        return f"{value:.4f}"
    return str(value)


def _duration(seconds):
    seconds = int(max(seconds, 0))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}h {m:02d}m {s:02d}s" if h else f"{m}m {s:02d}s"


def _si(n):
    for unit, div in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= div:
            return f"{n / div:.2f}{unit}"
    return f"{n:.0f}"


class Dashboard:
    def __init__(self, env_name, params, total_steps, backend, device, quiet=False):
        self.env_name = env_name
        self.params = params
        self.total_steps = total_steps
        self.backend = backend
        self.device = device
        self.fancy = sys.stdout.isatty() and not quiet
        self.last_draw = 0.0
        self.drawn = None
        self.live = None
        if self.fancy:
            from rich.live import Live
            self.live = Live(auto_refresh=False, transient=False)
            self.live.start()

    def update(self, stats, force=False):
        now = time.time()
        if not force and now - self.last_draw < REDRAW_SECONDS:
            return
        self.last_draw = now
        self.drawn = stats
        if self.live is not None:
            self.live.update(self._table(stats), refresh=True)
        else:
            keys = ("loss/policy", "loss/value", "loss/entropy", "env/perf", "env/score", "env/episode_return")
            parts = [f"step {_si(stats.get('agent_steps', 0))}/{_si(self.total_steps)}",
                     f"sps {_si(stats.get('SPS', 0))}", f"epoch {stats.get('epoch', 0)}"]
            parts += [f"{k.split('/')[-1]} {_fmt(stats[k])}" for k in keys if k in stats]
            print(f"[{self.env_name}] " + " | ".join(parts), flush=True)

    def _table(self, stats):
        from rich.table import Table
        outer = Table(box=None, expand=True, show_header=False)
        title = f"[bold cyan]PufferLib[/] {self.backend} backend on {self.device}"
        summary = Table(box=None, show_header=False, title=title, title_justify="left")
        steps, sps = stats.get("agent_steps", 0), stats.get("SPS", 0)
        remaining = (self.total_steps - steps) / sps if sps > 0 else 0
        for k, v in (("Env", self.env_name), ("Params", _si(self.params)), ("Steps", _si(steps)),
                     ("SPS", _si(sps)), ("Epoch", stats.get("epoch", 0)),
                     ("Uptime", _duration(stats.get("uptime", 0))), ("Remaining", _duration(remaining))):
            summary.add_row(f"[cyan]{k}", str(v))
        perf = Table(box=None, show_header=False, title="Performance", title_justify="left")
        timing_keys = [k for k in ("perf/rollout", "perf/eval_env", "perf/eval_gpu", "perf/train") if k in stats]
        total = sum(stats[k] for k in ("perf/rollout", "perf/train") if k in stats) or 1.0
        names = {"perf/rollout": "Rollout", "perf/eval_env": "  Env", "perf/eval_gpu": "  Forward",
                 "perf/train": "Train"}
        for k in timing_keys:
            perf.add_row(f"[cyan]{names[k]}", f"{stats[k]:.3f}s", f"{100 * stats[k] / total:.0f}%")
        losses = Table(box=None, show_header=False, title="Losses", title_justify="left")
        for k in sorted(k for k in stats if k.startswith("loss/")):
            losses.add_row(f"[cyan]{k[5:]}", _fmt(stats[k]))
        env = Table(box=None, show_header=False, title="Env", title_justify="left")
        for k in sorted(k for k in stats if k.startswith("env/"))[:30]:
            env.add_row(f"[cyan]{k[4:]}", _fmt(stats[k]))
        outer.add_row(summary, perf, losses, env)
        return outer

    def close(self, stats=None):
        if stats is not None and stats is not self.drawn:
            self.update(stats, force=True)
        if self.live is not None:
            self.live.stop()
            self.live = None
