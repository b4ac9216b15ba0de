"""Benchmark: vectorised localization against the loop reference, on a THUMOS14-sized test set.

The 212 THUMOS14 test videos of data_samples/Thumos14reduced-Annotations with their real
durations (T_i = round(duration * 25/16) snippets, about 72k in all) and 20 classes. The model
outputs are SYNTHETIC and seeded: a smooth attention with action-like bumps on the real
ground-truth intervals (jittered), a few false bumps and temporally correlated noise; a T-CAM
whose ground-truth classes are high on their bumps and whose background column is high
elsewhere. The numbers describe these synthetic outputs, not a model.

Usage: python bench/localize.py [--seed 0] [--repeat 10] [--videos N]
Both paths run in the same process; exits non-zero if their detections differ (same set, scores
within 1e-6). Also counts the rows that repeat a (video, class, segment) and the exact duplicate rows.
Last line: `speedup: Xx` (naive time / fast time).
"""
import argparse, sys, time
from pathlib import Path
import numpy as np
from co2net.data import load_annotations, secs_to_snippets
from co2net.localize import localize_videos, localize_videos_naive, detections_difference

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))   # bench/ helpers, also when imported
from _timing import best_time

def smooth(x, width):
    "Moving average along the first axis (same length)."
    kernel = np.ones(width) / width
    return np.apply_along_axis(lambda v: np.convolve(v, kernel, mode='same'), 0, x)

def synthetic_outputs(ann, i, classes, rng):
    "Seeded synthetic (cas (T, C+1), attn (T,)) for test video `i`, with bumps on its real GT intervals."
    T = max(1, int(secs_to_snippets(ann.duration[i])))
    C = len(classes)
    segs = secs_to_snippets(ann.segments[i], round=False) + rng.normal(0, 1.0, (len(ann.segments[i]), 2))
    labels = [classes.index(l) for l in ann.segment_labels[i]]
    t = np.arange(T)[:, None] + 0.5
    fg = np.zeros(T); cls_map = np.zeros((T, C + 1))
    for (s, e), c in zip(segs, labels):
        rise, fall = np.clip(-(t[:, 0] - s) * 1.5, -50, 50), np.clip((t[:, 0] - e) * 1.5, -50, 50)
        bump = 1 / (1 + np.exp(rise)) / (1 + np.exp(fall))                # soft box over [s, e]
        fg = np.maximum(fg, bump); cls_map[:, c] = np.maximum(cls_map[:, c], bump)
    for centre in rng.uniform(0, T, rng.poisson(1 + T / 200)):     # false alarms
        fg = np.maximum(fg, 0.6 * np.exp(-0.5 * ((t[:, 0] - centre) / rng.uniform(1, 4)) ** 2))
    noise = smooth(rng.normal(size=T), 3) * 1.5
    attn = 1 / (1 + np.exp(-(7 * fg - 3.5 + noise)))                  # (T,) in (0, 1)
    cas = smooth(rng.normal(-1, 1, (T, C + 1)), 3) + 5 * cls_map       # (T, C+1)
    cas[:, -1] += 4 * (1 - fg)
    return cas.astype(np.float32), attn.astype(np.float32)

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--repeat', type=int, default=10, help='timing repeats of the fast version (best is kept)')
    ap.add_argument('--videos', type=int, default=None, help='use only the first N test videos')
    args = ap.parse_args()

    ann = load_annotations(ROOT / 'data_samples' / 'Thumos14reduced-Annotations')
    idx = np.flatnonzero(ann.subset == 'test')[:args.videos]
    rng = np.random.default_rng(args.seed)
    items = [(ann.names[i], *synthetic_outputs(ann, i, ann.classes, rng)) for i in idx]
    n_snip = sum(len(c) for _, c, _ in items)
    print(f'{len(items)} THUMOS14 test videos (real durations), {n_snip} snippets, {len(ann.classes)} classes; '
          f'synthetic model outputs, seed {args.seed}')

    t_fast, fast = best_time(lambda: localize_videos(items), args.repeat)
    t0 = time.perf_counter(); naive = localize_videos_naive(items); t_naive = time.perf_counter() - t0
    n_groups = len(np.unique(np.char.add(fast['video'], fast['label'].astype(str))))
    print(f'detections: {len(fast["score"])} ({n_groups} video/class groups, '
          f'{len(fast["score"]) / max(n_groups, 1):.0f} proposals per group on average)')
    rows = np.rec.fromarrays([fast['video'], fast['label'], fast['start'], fast['end'], fast['score']])
    n_boxes, n_rows = len(np.unique(rows[['f0', 'f1', 'f2', 'f3']])), len(np.unique(rows))
    print(f'repeated boxes: {len(rows) - n_boxes} rows repeat a (video, class, segment) with another score '
          f'(the same run at several attention thresholds; soft-NMS keeps and decays every copy); '
          f'exact duplicate rows: {len(rows) - n_rows}')
    print(f'naive (loops):     {t_naive:8.3f} s')
    print(f'fast (vectorised): {t_fast:8.3f} s  (best of {args.repeat})')
    diff = detections_difference(naive, fast, atol=1e-6)
    if diff is not None:
        print(f'OUTPUTS DIFFER: {diff}')
        print(f'speedup: {t_naive / t_fast:.0f}x')
        sys.exit(1)
    print('outputs identical (same detections, scores within 1e-6)')
    print(f'speedup: {t_naive / t_fast:.0f}x')

if __name__ == '__main__': main()
