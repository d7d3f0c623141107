#!/usr/bin/env python3
"""Env-only stepping on the CPU and on the GPU, per env (no policy): steps of one agent per second.

    python scripts/bench_env_device.py [ENV ...] [--agents 4096,16384,65536] [--threads N]

CPU: vec.step() of all envs (OpenMP static loop over c_step, --threads threads, fixed random actions).
GPU: the env's CUDA variant, one env per thread, 64 steps per CUDA graph (vec.bench_device), same
actions. Prints one table: medians of 3 measurements.
"""
import argparse
import os
import statistics
import sys
import time

import numpy as np

import pufferlib

MULTI = {"target": 8, "snake": 16}


def random_actions(vec, rng):
    cols = [rng.uniform(-1, 1, vec.num_agents) if s == 1 else rng.integers(0, s, vec.num_agents)
            for s in vec.act_sizes]
    return np.stack(cols, axis=1).astype(np.float32)


def cpu_sps(env, agents, threads, seconds=1.0):
    vec = pufferlib.make(env, total_agents=agents, num_threads=threads)
    vec.reset(1)
    vec.actions[:] = random_actions(vec, np.random.default_rng(0))
    runs = []
    for _ in range(3):
        steps, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            vec.step()
            steps += 1
        runs.append(steps * agents / (time.perf_counter() - start))
    vec.close()
    return statistics.median(runs)


def gpu_sps(env, agents):
    vec = pufferlib.make(env, total_agents=agents, device="cuda")
    vec.reset(1)
    vec.actions[:] = random_actions(vec, np.random.default_rng(0))
    vec.step()
    runs = [agents / vec.bench_device(graphs=20) for _ in range(3)]
    vec.close()
    return statistics.median(runs)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("envs", nargs="*")
    parser.add_argument("--agents", default="4096,65536")
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    args = parser.parse_args()
    envs = args.envs or pufferlib.available_envs()
    sizes = [int(x) for x in args.agents.split(",")]
    header = ["env", "agents", f"CPU ({args.threads} threads) M/s", "GPU M/s", "GPU / CPU"]
    rows = []
    for env in envs:
        for n in sizes:
            n -= n % MULTI.get(env, 1)
            c = cpu_sps(env, n, args.threads)
            g = gpu_sps(env, n)
            rows.append([env, str(n), f"{c / 1e6:.1f}", f"{g / 1e6:.1f}", f"{g / c:.1f}x"])
            print(" | ".join(rows[-1]), file=sys.stderr, flush=True)
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for r in rows:
        print("| " + " | ".join(r) + " |")


if __name__ == "__main__":
    main()
