"""Timing helper shared by the bench scripts (imported by bench/evaluate.py and bench/localize.py)."""
import time

def best_time(f, repeat: int):
    "Best wall time (seconds) of `repeat` calls of `f()` and the result of the last call."
    if repeat < 1: raise ValueError(f'best_time: repeat must be >= 1, got {repeat}')
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter(); out = f(); times.append(time.perf_counter() - t0)
    return min(times), out
