#!/usr/bin/env python3
"""Write the simulator's four arrival traces (CSV t_ms,model,service_ms,deadline_ms).

Deterministic: each trace draws from its own random.Random seeded with a fixed number, so
running this again rewrites byte-identical files. Service times are at the device's highest
frequency; each model has one service time and one relative deadline:

  steady    Poisson arrivals at 20/s of a 15 ms image classifier, deadline 100 ms, 120 s.
  bursty    an IoT gateway: a 2 ms sensor-anomaly model every ~5 s, and every 10-30 s a
            motion event that sends 8-24 camera frames (25 ms detector, deadline 500 ms)
            within ~300 ms; otherwise idle. 300 s.
  diurnal   a day compressed into 300 s: Poisson arrivals whose rate follows a raised cosine
            from 1/s at night to 30/s at midday, 10 ms classifier, deadline 150 ms.
  wakeword  one 6 ms keyword-spotting frame every 80 ms (deadline 80 ms, before the next
            frame), 120 s.

Usage: gen_traces.py [OUTDIR]   (default: this script's directory)
"""
import math
import os
import random
import sys

HEADER = "t_ms,model,service_ms,deadline_ms\n"


def write(path, rows):
    rows.sort(key=lambda r: r[0])
    with open(path, "w") as f:
        f.write(HEADER)
        for t, model, service, deadline in rows:
            f.write(f"{t:.3f},{model},{service:g},{deadline:g}\n")


def steady(rng):
    rows, t = [], 0.0
    while True:
        t += rng.expovariate(20 / 1000)
        if t >= 120_000:
            return rows
        rows.append((t, "classify", 15, 100))


def bursty(rng):
    rows = []
    t = 0.0
    while True:
        t += rng.uniform(4000, 6000)
        if t >= 300_000:
            break
        rows.append((t, "anomaly", 2, 100))
    t = 0.0
    while True:
        t += rng.uniform(10_000, 30_000)
        if t >= 300_000:
            break
        for _ in range(rng.randint(8, 24)):
            rows.append((t + rng.uniform(0, 300), "detect", 25, 500))
    return rows


def diurnal(rng):
    rows, t = [], 0.0
    peak = 30 / 1000
    while True:
        # Thinning: draw at the peak rate, keep with probability rate(t) / peak.
        t += rng.expovariate(peak)
        if t >= 300_000:
            return rows
        rate = 1 / 1000 + (peak - 1 / 1000) * (1 - math.cos(2 * math.pi * t / 300_000)) / 2
        if rng.random() < rate / peak:
            rows.append((t, "classify", 10, 150))


def wakeword(rng):
    return [(i * 80.0, "kws", 6, 80) for i in range(1500)]


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    for seed, (name, gen) in enumerate(
        [("steady", steady), ("bursty", bursty), ("diurnal", diurnal), ("wakeword", wakeword)]
    ):
        write(os.path.join(out, name + ".csv"), gen(random.Random(1000 + seed)))


if __name__ == "__main__":
    main()
