"""Protein vs optuna's TPE vs random search on synthetic cost-aware problems, and suggest() timings.

    python scripts/bench_protein.py                 # 3 problems x 5 seeds x 100 trials (~5 min)
    python scripts/bench_protein.py --methods protein protein-ref tpe   # with the reference's search
    python scripts/bench_protein.py --full          # 3 shapes x {2, 5, 10} params, same budget
    python scripts/bench_protein.py --timing-only

A problem: a cost parameter `steps` (log_normal, 1e3..3e4) and d other parameters, one of them a
power-of-two `width` that also makes runs dearer. A run's score after s steps is

    score(s, x) = F(s / s_max) * exp(-sum_i w_i (x_i - x*_i)^2) + N(0, 0.01^2)

with x in normalised coordinates, w_i ~ U(0.5, 2) min(1, 4 / d), the optimum x* ~ U(-0.5, 0.5)^d
drawn per seed and moved onto the grid of the discrete parameters (the first parameter, a learning
rate, is continuous and its optimum drifts with s by up to 0.2), and F one of
    linear      F(u) = u
    log         F(u) = 0.2 + 0.8 log(s / s_min) / log(s_max / s_min)      (0.2 at s_min, 1 at s_max)
    saturating  F(u) = 1 - exp(-8 u)
cost = s * (0.5 + width / 512). Every run reports 10 evenly spaced curve points (the sampler may
use them; TPE and random use only the final value). The best achievable score is F(1) = 1 (noise
free); a run "reaches" 90% / 99% when its noise-free final score does. Reported per method: the
median over seeds of the runs needed (">N" when most seeds never got there within the budget, with
the number of seeds that did), the median cost spent until then in units of one run of maximum
cost (s_max steps at width 512), and, at the end of the budget, the mean best score and mean cost.
Methods: protein (defaults), protein+prune (with ProteinPruner), protein-ref (the reference's search
constants), tpe (optuna's TPESampler, defaults), random.
"""
import argparse
import math
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "sweep"))  # uninstalled tree

import optuna  # noqa: E402

import protein  # noqa: E402

S_MIN, S_MAX = 1e3, 3e4
OTHER_PARAMS = [
    ("lr", {"distribution": "log_normal", "min": 1e-5, "max": 1e-1, "scale": 0.5}),
    ("gamma", {"distribution": "logit_normal", "min": 0.8, "max": 0.9999, "scale": "auto"}),
    ("clip", {"distribution": "uniform", "min": 0.0, "max": 1.0, "scale": "auto"}),
    ("layers", {"distribution": "int_uniform", "min": 1, "max": 8, "scale": "auto"}),
    ("ent", {"distribution": "log_normal", "min": 1e-5, "max": 0.2, "scale": "auto"}),
    ("beta1", {"distribution": "logit_normal", "min": 0.5, "max": 0.999, "scale": "auto"}),
    ("vf", {"distribution": "uniform", "min": 0.1, "max": 5.0, "scale": "auto"}),
    ("horizon", {"distribution": "uniform_pow2", "min": 8, "max": 1024, "scale": "auto"}),
    ("alpha", {"distribution": "uniform", "min": 0.0, "max": 1.0, "scale": "auto"}),
]
SHAPES = {
    "linear": lambda u: u,
    "log": lambda u: 0.2 + 0.8 * (1.0 - np.log(u) / math.log(S_MIN / S_MAX)),
    "saturating": lambda u: 1.0 - np.exp(-8.0 * u),
}


class Problem:
    def __init__(self, shape, dim, seed):
        self.shape, self.dim = shape, dim
        spec = {"train": {"steps": {"distribution": "log_normal", "min": S_MIN, "max": S_MAX, "scale": "time"}},
                "policy": {"width": {"distribution": "uniform_pow2", "min": 16, "max": 512, "scale": "auto"}}}
        for name, p in OTHER_PARAMS[:dim - 1]:
            spec["train"][name] = dict(p)
        self.spec = spec
        self.space = protein.SearchSpace(spec)
        rng = np.random.default_rng([seed, dim, len(shape)])
        self.others = [n for n in self.space.names if n != "train/steps"]
        # the optimum lies on the grid of the discrete parameters, so a score of 1 can be reached
        opt = np.zeros(self.space.dim)
        opt[[self.space.names.index(n) for n in self.others]] = rng.uniform(-0.5, 0.5, len(self.others))
        opt = self.space.snap(opt[None])[0]
        self.opt = opt[[self.space.names.index(n) for n in self.others]]
        self.w = rng.uniform(0.5, 2.0, len(self.others)) * min(1.0, 4.0 / dim)
        self.noise = np.random.default_rng([seed, 7])
        self.max_cost = S_MAX * (0.5 + 512 / 512)

    def true_score(self, params, steps):
        x = np.array([self.space[n].normalize(params[n]) for n in self.others])
        u = steps / S_MAX
        opt = self.opt.copy()
        opt[0] += 0.2 * (self.space["train/steps"].normalize(steps))
        return float(SHAPES[self.shape](u) * math.exp(-np.sum(self.w * (x - opt) ** 2)))

    def cost(self, params, steps):
        return steps * (0.5 + params["policy/width"] / 512)


# The reference's search: no dearer copies of the top points, cost targets up to 1.1, GP mean only.
PROTEIN_KWARGS = {"protein-ref": dict(cost_expansion=(), cost_target_scale=1.1, ucb=0.0)}


def run_study(problem, method, trials, seed):
    """One study; returns per-trial (noise-free final score, cost spent)."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    pruner = optuna.pruners.NopPruner()
    if method.startswith("p"):
        sampler = protein.ProteinSampler(problem.spec, seed=seed, max_suggestion_cost=problem.max_cost,
                                         **PROTEIN_KWARGS.get(method, {}))
        if method == "protein+prune":
            pruner = protein.ProteinPruner(sampler)
    elif method == "tpe":
        sampler = optuna.samplers.TPESampler(seed=seed)
    else:
        sampler = optuna.samplers.RandomSampler(seed=seed)
    study = optuna.create_study(direction="maximize", sampler=sampler, pruner=pruner)
    results = []

    def objective(trial):
        flat = problem.space.flatten(problem.space.suggest(trial))
        steps_total = flat["train/steps"]
        score = math.nan
        for k in range(1, 11):
            steps = steps_total * k / 10
            cost = problem.cost(flat, steps)
            score = problem.true_score(flat, steps) + 0.01 * problem.noise.normal()
            protein.report(trial, score, cost, step=int(steps))
            if trial.should_prune():
                results.append((problem.true_score(flat, steps), cost))
                raise optuna.TrialPruned()
        results.append((problem.true_score(flat, steps_total), problem.cost(flat, steps_total)))
        return score

    study.optimize(objective, n_trials=trials)
    return results


def runs_to_reach(results, level, max_cost):
    spent = 0.0
    for i, (score, cost) in enumerate(results):
        spent += cost
        if score >= level:
            return i + 1, spent / max_cost
    return None, None


def summarise(values, budget):
    reached = [v for v in values if v is not None]
    if len(reached) * 2 > len(values):
        ordered = sorted(values, key=lambda v: math.inf if v is None else v)
        med = ordered[(len(values) - 1) // 2]
        return med, len(reached)
    return None, len(reached)


def bench(args):
    problems = [(shape, dim) for shape in args.shapes for dim in args.dims] if args.full else \
        [("linear", 2), ("log", 5), ("saturating", 10)]
    methods = args.methods
    rows = []
    t_start = time.perf_counter()
    for shape, dim in problems:
        for method in methods:
            found = {0.9: [], 0.99: []}
            cost = {0.9: [], 0.99: []}
            final_best, final_cost = [], []
            t0 = time.perf_counter()
            for seed in range(args.seeds):
                problem = Problem(shape, dim, seed)
                res = run_study(problem, method, args.trials, seed)
                for level in (0.9, 0.99):
                    n, c = runs_to_reach(res, level, problem.max_cost)
                    found[level].append(n)
                    cost[level].append(c)
                final_best.append(max(r[0] for r in res))
                final_cost.append(sum(r[1] for r in res) / problem.max_cost)
            elapsed = time.perf_counter() - t0
            cells = []
            for level in (0.9, 0.99):
                n, k = summarise(found[level], args.trials)
                c, _ = summarise(cost[level], args.trials)
                runs = f"{n:>5d}" if n is not None else f">{args.trials:<4d}"
                cells.append(f"{runs} ({k}/{args.seeds})")
                cells.append(f"{c:7.1f}" if c is not None else "      -")
            cells += [f"{np.mean(final_best):.3f}", f"{np.mean(final_cost):6.1f}"]
            rows.append((f"{shape} d={dim}", method, *cells, f"{elapsed:6.1f}s"))
            print(" | ".join(rows[-1]), flush=True)
    head = ("problem", "method", "runs to 90%", "cost", "runs to 99%", "cost",
            f"best in {args.trials}", f"cost of {args.trials}", "time")
    widths = [max(len(str(r[i])) for r in rows + [head]) for i in range(len(head))]
    print(f"\n{args.seeds} seeds, {args.trials} trials each; runs = median trial index reaching the level "
          f"(seeds that reached it); cost = median spend until then, in max-cost runs; best in / cost of "
          f"{args.trials}: mean over seeds of the best noise-free score found and of the total cost")
    print("| " + " | ".join(h.ljust(w) for h, w in zip(head, widths)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print("| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths)) + " |")
    print(f"total {time.perf_counter() - t_start:.0f}s")


REFERENCE_SPACE = {
    "train": {
        "total_timesteps": {"distribution": "log_normal", "min": 3e7, "max": 1e11, "scale": "time"},
        "horizon": {"distribution": "uniform_pow2", "min": 8, "max": 1024},
        "minibatch_size": {"distribution": "uniform_pow2", "min": 4096, "max": 65536},
        "learning_rate": {"distribution": "log_normal", "min": 1e-5, "max": 0.1, "scale": 0.5},
        "ent_coef": {"distribution": "log_normal", "min": 1e-5, "max": 0.2},
        "gamma": {"distribution": "logit_normal", "min": 0.8, "max": 0.9999},
        "gae_lambda": {"distribution": "logit_normal", "min": 0.2, "max": 0.995},
        "vtrace_rho_clip": {"distribution": "uniform", "min": 0.1, "max": 5.0},
        "vtrace_c_clip": {"distribution": "uniform", "min": 0.1, "max": 5.0},
        "replay_ratio": {"distribution": "uniform", "min": 0.25, "max": 4.0},
        "clip_coef": {"distribution": "uniform", "min": 0.01, "max": 1.0},
        "vf_clip_coef": {"distribution": "uniform", "min": 0.01, "max": 5.0},
        "vf_coef": {"distribution": "uniform", "min": 0.1, "max": 5.0},
        "max_grad_norm": {"distribution": "uniform", "min": 0.1, "max": 5.0},
        "beta1": {"distribution": "logit_normal", "min": 0.5, "max": 0.999},
        "beta2": {"distribution": "logit_normal", "min": 0.9, "max": 0.99999},
        "eps": {"distribution": "log_normal", "min": 1e-14, "max": 1e-4},
        "prio_alpha": {"distribution": "uniform", "min": 0.0, "max": 1.0},
        "prio_beta0": {"distribution": "uniform", "min": 0.0, "max": 1.0},
    },
    "policy": {"hidden_size": {"distribution": "uniform_pow2", "min": 32, "max": 1024},
               "num_layers": {"distribution": "int_uniform", "min": 1, "max": 8}},
    "vec": {"total_agents": {"distribution": "uniform_pow2", "min": 256, "max": 16384},
            "num_buffers": {"distribution": "int_uniform", "min": 1, "max": 8}},
}


def timing(args):
    """suggest() time with n observations on the reference's 23-parameter space."""
    print(f"suggest() timing, {protein.SearchSpace(REFERENCE_SPACE).dim} parameters, "
          f"{os.cpu_count()} CPUs visible, OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}")
    print("| observations | first suggest (cold fit) | next suggests (mean of 5, warm) | max |")
    print("|---|---|---|---|")
    for n in args.timing_obs:
        rng = np.random.default_rng(n)
        p = protein.Protein(REFERENCE_SPACE, seed=0, max_suggestion_cost=1e5)
        d = p.space.dim
        w = rng.normal(size=d)

        def observe_random():
            x = rng.uniform(-1, 1, d)
            params = p.space.unnormalize(x)
            steps = x[p.space.cost_index]
            score = float(np.tanh(x @ w / 3) + 0.5 * steps + 0.05 * rng.normal())
            cost = float(np.exp(2.0 + 3.0 * steps + 0.3 * x[0] + 0.05 * rng.normal()))
            p.observe(params, score, cost)

        for _ in range(n):
            observe_random()
        p.suggestion_count = p.num_random_samples
        t0 = time.perf_counter()
        p.suggest()
        cold = time.perf_counter() - t0
        warm = []
        for _ in range(5):
            observe_random()
            t0 = time.perf_counter()
            p.suggest()
            warm.append(time.perf_counter() - t0)
        print(f"| {n} | {cold:.3f} s | {np.mean(warm):.3f} s | {np.max(warm):.3f} s |", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--full", action="store_true", help="every shape x every --dims")
    parser.add_argument("--shapes", nargs="+", default=list(SHAPES), choices=list(SHAPES))
    parser.add_argument("--dims", nargs="+", type=int, default=[2, 5, 10])
    parser.add_argument("--methods", nargs="+", default=["protein", "protein+prune", "tpe", "random"],
                        choices=["protein", "protein-ref", "protein+prune", "tpe", "random"])
    parser.add_argument("--timing-only", action="store_true")
    parser.add_argument("--no-timing", action="store_true")
    parser.add_argument("--timing-obs", nargs="+", type=int, default=[200, 1000])
    args = parser.parse_args()
    if not args.timing_only:
        bench(args)
    if not args.no_timing:
        timing(args)


if __name__ == "__main__":
    main()
