#!/usr/bin/env python3
"""bench_train.py ENV [--backend native|torch] [--device cpu|cuda] [--steps N] [--section.key VALUE ...]

Trains ENV with its shipped config (plus overrides) and prints one table:
  - startup: process start to the first rollout (imports, env creation, trainer init, graph capture)
  - steady-state SPS: median over the epochs after the first `--warmup` (default 3)
  - time split: rollout (of which env stepping and policy forward) and training, as fractions
  - time to threshold: wall time (training only) until the metric's mean over `--window` epochs
    first reaches each threshold; final value of the metric
  - eval: the metric over `--eval-epochs` rollouts of the trained policy without training
Examples:
  python scripts/bench_train.py breakout
  python scripts/bench_train.py cartpole --device cpu --vec.total-agents 512 --train.minibatch-size 4096
  python scripts/bench_train.py squared --backend torch --steps 2000000
  python scripts/bench_train.py breakout --backend torch --base.cudagraphs -1     (eager, no CUDA graphs)
"""
import argparse
import statistics
import sys
import time

START = time.time()

DEFAULT_METRIC = {  # env: (metric, thresholds)
    'breakout': ('perf', (0.5, 0.9, 0.99)),
    'squared': ('perf', (0.9, 0.95)),
    'cartpole': ('episode_return', (190.0, 195.0)),
    'target': ('perf', (0.5, 0.9)),
}


def parse(argv):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('env')
    parser.add_argument('--backend', default='native', choices=('native', 'torch'))
    parser.add_argument('--device', default=None, help='cpu or cuda (default: cuda when the build and a GPU have it)')
    parser.add_argument('--steps', type=float, default=None, help='train.total_timesteps')
    parser.add_argument('--warmup', type=int, default=3, help='epochs left out of the SPS median')
    parser.add_argument('--window', type=int, default=3, help='epochs averaged for the thresholds')
    parser.add_argument('--metric', default=None, help='env log key for the thresholds (perf, score, ...)')
    parser.add_argument('--thresholds', default=None, help='comma-separated, e.g. 0.9,0.99')
    parser.add_argument('--time-limit', type=float, default=None, help='stop after this many seconds')
    parser.add_argument('--eval-epochs', type=int, default=5,
                        help='rollouts without training after the run; their mean metric is "eval"')
    args, rest = parser.parse_known_args(argv)
    overrides = []
    i = 0
    while i < len(rest):
        flag = rest[i]
        if not flag.startswith('--') or '.' not in flag or i + 1 >= len(rest):
            parser.error(f'unexpected argument {flag!r} (overrides look like --train.learning-rate 0.01)')
        section, key = flag[2:].split('.', 1)
        overrides.append((section, key.replace('-', '_'), rest[i + 1]))
        i += 2
    return args, overrides


def build_config(env_name, args, overrides):
    from pufferlib.config import load_config, parse_value
    config = load_config(env_name)
    for section, key, value in overrides:
        value = parse_value(value)
        if section == 'base':
            config[key] = value
        else:
            config.setdefault(section, {})[key] = value
    if args.steps is not None:
        config['train']['total_timesteps'] = int(args.steps)
    return config


def pick_device(args):
    if args.device:
        return args.device
    if args.backend == 'torch':
        import torch
        return 'cuda' if torch.cuda.is_available() else 'cpu'
    from pufferlib.native_trainer import default_device
    return default_device()


def main(argv=None):
    args, overrides = parse(sys.argv[1:] if argv is None else argv)
    import numpy as np
    import pufferlib
    config = build_config(args.env, args, overrides)
    device = pick_device(args)
    v = config['vec']
    from pufferlib.envs import env_buffers, env_device
    where = env_device(v.get('device', 'auto'), args.env, device if args.backend == 'native' else 'cpu')
    vec = pufferlib.make(args.env, total_agents=v['total_agents'], num_buffers=env_buffers(where, v['num_buffers']),
                         num_threads=v['num_threads'], seed=config['seed'], device=where, **config['env'])
    if args.backend == 'native':
        from pufferlib.native_trainer import NativeTrainer
        trainer = NativeTrainer(config, vec, device)
    else:
        from pufferlib.torch_trainer import TorchTrainer
        trainer = TorchTrainer(config, vec, device)
    startup = time.time() - START

    base = args.env.split('_')[0]
    metric, thresholds = DEFAULT_METRIC.get(base, ('perf', (0.9,)))
    metric = args.metric or metric
    if args.thresholds:
        thresholds = tuple(float(x) for x in args.thresholds.split(','))
    reached = {t: None for t in thresholds}

    batch = int(vec.num_agents) * int(config['train']['horizon'])
    sps, history, totals = [], [], {'perf/rollout': 0.0, 'perf/eval_env': 0.0, 'perf/eval_gpu': 0.0,
                                     'perf/train': 0.0}
    train_time, last = 0.0, {}
    while trainer.epoch_index < trainer.total_epochs:
        tick = time.time()
        logs = trainer.epoch()
        seconds = time.time() - tick
        train_time += seconds
        if trainer.epoch_index > args.warmup:
            sps.append(batch / seconds)
            for k in totals:
                totals[k] += float(logs.get(k, 0.0))
        if f'env/{metric}' in logs:
            history.append(logs[f'env/{metric}'])
            mean = float(np.mean(history[-args.window:]))
            for t in thresholds:
                if reached[t] is None and len(history) >= args.window and mean >= t:
                    reached[t] = (train_time, int(trainer.global_step))
        last = logs
        if args.time_limit and train_time > args.time_limit:
            break

    steps = int(trainer.global_step)
    # Eval: the trained policy acting (sampled actions, as in training) without further updates;
    # the mean of the metric over episodes that end during these rollouts.
    evals = []
    for _ in range(args.eval_epochs):
        logs = trainer.epoch(train=False)
        if f'env/{metric}' in logs:
            evals.append(logs[f'env/{metric}'])
    total = totals['perf/rollout'] + totals['perf/train'] or 1.0
    rows = [
        ('env', args.env),
        ('backend / device', f'{args.backend} / {device}'
         + (f' ({"bf16" if getattr(trainer, "precision_bytes", 4) == 2 else "fp32"}'
            f'{", graphs" if getattr(trainer, "cudagraphs", False) else ""}'
            f'{", fused rollout" if getattr(trainer, "fused_rollout", False) else ""})')),
        ('agents x horizon', f'{vec.num_agents} x {config["train"]["horizon"]}, {vec.num_buffers} buffers, '
                             + (f'envs on {vec.device}' if vec.device != 'cpu' else f'{v["num_threads"]} threads')),
        ('policy', f'hidden {config["policy"]["hidden_size"]}, layers {config["policy"]["num_layers"]}, '
                   f'{trainer.num_params} params'),
        ('startup (process start to first rollout)', f'{startup:.2f} s'),
        ('steps / training time', f'{steps:,} in {train_time:.2f} s'),
        ('steady-state SPS (median)', f'{statistics.median(sps):,.0f}' if sps else 'n/a (too few epochs)'),
        ('end-to-end SPS', f'{steps / max(train_time, 1e-9):,.0f}'),
        ('rollout / train', f'{totals["perf/rollout"] / total:.0%} / {totals["perf/train"] / total:.0%}'),
        ('  env stepping', f'{totals["perf/eval_env"] / total:.0%}'),
        ('  policy forward', f'{totals["perf/eval_gpu"] / total:.0%}'),
    ]
    for t in thresholds:
        r = reached[t]
        rows.append((f'time to {metric} >= {t:g}', 'not reached' if r is None else f'{r[0]:.2f} s ({r[1]:,} steps)'))
    if history:
        rows.append((f'final {metric} (mean of {args.window})', f'{np.mean(history[-args.window:]):.4f}'))
    if evals:
        rows.append((f'eval {metric} ({len(evals)} rollouts, no training)', f'{np.mean(evals):.4f}'))
    for key in ('loss/policy', 'loss/value', 'loss/entropy', 'loss/explained_variance'):
        if key in last:
            rows.append((key, f'{last[key]:.4f}'))
    width = max(len(k) for k, _ in rows)
    print()
    for k, v_ in rows:
        print(f'{k:<{width}}  {v_}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
