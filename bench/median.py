#!/usr/bin/env python3
"""Runs a command N times (default 11) with output discarded; prints the median and min wall time in ms.
Usage: bench/median.py [-n N] -- COMMAND ARGS..."""
import subprocess, sys, time
args = sys.argv[1:]
n = 11
if args[:1] == ["-n"]:
    n, args = int(args[1]), args[2:]
if args[:1] == ["--"]:
    args = args[1:]
times = []
for _ in range(n):
    t = time.perf_counter()
    subprocess.run(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    times.append((time.perf_counter() - t) * 1000)
times.sort()
print(f"median {times[n // 2]:.1f} ms  min {times[0]:.1f} ms  max {times[-1]:.1f} ms  ({n} runs): {' '.join(args)}")
