#!/usr/bin/env python3
"""Compiles every env's c_reset/c_step as CUDA device code (no GPU needed) to check the portable
env contract of envs/ocean.h. An env that breaks it fails with a line naming the env and the rule.

    python scripts/check_env_device.py [ENV ...]            # envs listed in envs/CMakeLists.txt
    python scripts/check_env_device.py --dir PATH --binding binding.c --name NAME   # any folder
"""
import argparse
import concurrent.futures
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KERNEL = """#include "{binding}"
__global__ void puffer_device_check(Env* envs, int n) {{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) {{
        c_reset(&envs[i]);
        c_step(&envs[i]);
    }}
}}
"""
# nvcc diagnostics for calls from device code into host code: errors, not warnings.
HOST_CALL_DIAGNOSTICS = "20011,20012,20013,20014,20015"
RULES = [
    (re.compile(r'calling a __host__ function\("puffer_rule_(\w+)'),
     lambda m: m.group(1).replace("_", " ")),
    (re.compile(r'calling a __host__ function\("(\w+)[^"]*"\) from a __host__ __device__ function\("(\w+)'),
     lambda m: f"{m.group(2)} calls {m.group(1)}, which is not PUFFER_FN (every function c_reset/c_step "
               "reach must be PUFFER_FN; C library calls other than math.h, memset and memcpy are not allowed)"),
    (re.compile(r'identifier "(\w+)" is undefined in device code'),
     lambda m: f"{m.group(1)} is a global or file-scope table (step code may use only the env struct "
               "and local const arrays)"),
]


def listed_envs():
    text = open(os.path.join(ROOT, "envs", "CMakeLists.txt")).read()
    envs = []
    for args in re.findall(r"^puffer_add_env\(([^)]*)\)", text, flags=re.M):
        words = args.split()
        opts = dict(zip(words[1::2], words[2::2]))
        envs.append((words[0], os.path.join(ROOT, "envs", opts.get("DIR", words[0])),
                     opts.get("BINDING", "binding.c")))
    return envs


def explain(output):
    reasons = []
    for line in output.splitlines():
        for pattern, describe in RULES:
            m = pattern.search(line)
            if m:
                where = line.split(": error")[0].strip()
                reason = f"{describe(m)} [{os.path.relpath(where, ROOT) if where.startswith(ROOT) else where}]"
                if reason not in reasons:
                    reasons.append(reason)
                break
    return reasons


def check(name, folder, binding, nvcc, arch):
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, f"device_check_{name}.cu")
        with open(src, "w") as f:
            f.write(KERNEL.format(binding=os.path.join(folder, binding)))
        cmd = [nvcc, "-c", f"-arch={arch}", "-x", "cu", "-std=c++17", "-DPUFFER_RENDER=0",
               "-DPUFFER_DEVICE_CHECK=1", f"-I{os.path.join(ROOT, 'envs')}", f"-I{folder}",
               "-diag-error", HOST_CALL_DIAGNOSTICS, "-o", os.path.join(tmp, "check.o"), src]
        proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode == 0:
        return name, None
    reasons = explain(proc.stdout + proc.stderr)
    if not reasons:
        reasons = ["does not compile as device code:\n" + (proc.stdout + proc.stderr).strip()]
    return name, reasons


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("envs", nargs="*", help="env names (default: every env in envs/CMakeLists.txt)")
    parser.add_argument("--dir", help="check the env in this folder instead")
    parser.add_argument("--binding", default="binding.c")
    parser.add_argument("--name", help="name to report for --dir")
    parser.add_argument("--arch", default="sm_90")
    args = parser.parse_args()
    nvcc = shutil.which("nvcc")
    if nvcc is None:
        print("check_env_device: nvcc not found (needs the CUDA toolkit, no GPU)", file=sys.stderr)
        return 2
    if args.dir:
        targets = [(args.name or os.path.basename(os.path.abspath(args.dir)), os.path.abspath(args.dir),
                    args.binding)]
    else:
        targets = listed_envs()
        if args.envs:
            known = {t[0] for t in targets}
            unknown = [e for e in args.envs if e not in known]
            if unknown:
                print(f"check_env_device: unknown env '{unknown[0]}'. Available: {' '.join(sorted(known))}",
                      file=sys.stderr)
                return 2
            targets = [t for t in targets if t[0] in args.envs]
    failed = 0
    with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        for name, reasons in pool.map(lambda t: check(*t, nvcc, args.arch), targets):
            if reasons is None:
                print(f"ok: {name} steps as device code")
                continue
            failed += 1
            for reason in reasons:
                print(f"env {name} breaks the portable env contract (envs/ocean.h): {reason}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
