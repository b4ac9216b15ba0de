"""Benchmark: vectorised detection mAP against the naive per-prediction loop.

Real THUMOS14 test ground truth (data_samples/Thumos14reduced-Annotations, 212 videos, 3358
instances) and about 60k seeded synthetic detections around it (jittered GT copies,
near-duplicates, wrong classes, false positives; `co2net.evaluate.synthetic_detections`),
evaluated under the `co2net` protocol (snippet units, Ambiguous filter, tIoU 0.1:0.1:0.9).
The numbers describe synthetic detections, not a model.

Usage: python bench/evaluate.py [--n 60000] [--seed 0] [--repeat 5]
Exits non-zero if the fast and naive APs differ by more than 1e-12. Last line: `speedup: Xx`.
"""
import argparse, sys, time
from pathlib import Path
import numpy as np
from co2net.data import load_annotations, ground_truth, secs_to_snippets
from co2net.evaluate import (PROTOCOLS, synthetic_detections, filter_ambiguous, detection_ap, detection_ap_naive,
                             evaluate_protocol)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))   # bench/ helpers, also when imported
from _timing import best_time

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--n', type=int, default=60000, help='number of synthetic detections')
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--repeat', type=int, default=5, help='timing repeats of the fast version (best is kept)')
    args = ap.parse_args()

    ann = load_annotations(ROOT / 'data_samples' / 'Thumos14reduced-Annotations')
    idx = np.flatnonzero(ann.subset == 'test')
    gt = ground_truth(ann, idx)
    gt = dict(gt, start=secs_to_snippets(gt['start']), end=secs_to_snippets(gt['end']))   # co2net protocol GT
    dets = synthetic_detections(gt, args.n, seed=args.seed, n_classes=len(ann.classes))
    thresholds = np.array(PROTOCOLS['co2net'].thresholds)
    kept = filter_ambiguous(dets, ann.ambiguous)
    print(f'data: THUMOS14 test GT ({len(idx)} videos, {len(gt["label"])} instances, snippet units); '
          f'{len(dets["score"])} synthetic detections (seed {args.seed}), {len(kept["score"])} after the Ambiguous filter; '
          f'{len(thresholds)} tIoU thresholds; {len(np.unique(dets["score"]))} distinct scores (ties occur)')

    t_fast, ap_fast = best_time(lambda: detection_ap(gt, kept, thresholds), args.repeat)
    t_full, res = best_time(lambda: evaluate_protocol(ann, idx, dets, 'co2net'), args.repeat)
    t0 = time.perf_counter(); ap_naive = detection_ap_naive(gt, kept, thresholds); t_naive = time.perf_counter() - t0

    diff = float(np.max(np.abs(ap_fast - ap_naive)))
    map_fast, map_naive = ap_fast.mean(0), ap_naive.mean(0)
    fmt = lambda m: ' '.join(f'{100 * x:6.2f}' for x in m)
    print(f'tIoU           {" ".join(f"{t:6g}" for t in thresholds)}')
    print(f'mAP fast  (%)  {fmt(map_fast)}   AVG 0.1:0.7 {100 * map_fast[:7].mean():.4f}')
    print(f'mAP naive (%)  {fmt(map_naive)}   AVG 0.1:0.7 {100 * map_naive[:7].mean():.4f}')
    print(f'evaluate_protocol mAP (%) {fmt(res.map)}')
    print(f'max |AP fast - AP naive| = {diff:.3e}')
    print(f'fast  detection_ap:            {t_fast:.3f} s (best of {args.repeat})')
    print(f'fast  evaluate_protocol (all): {t_full:.3f} s (best of {args.repeat}; checks + Ambiguous filter + AP)')
    print(f'naive detection_ap_naive:      {t_naive:.3f} s (one run)')
    ok = diff <= 1e-12 and np.allclose(res.map, map_fast, rtol=0, atol=1e-12)
    if not ok: print('FAIL: fast and naive results differ')
    print(f'speedup: {t_naive / t_fast:.0f}x')
    sys.exit(0 if ok else 1)

if __name__ == '__main__': main()
