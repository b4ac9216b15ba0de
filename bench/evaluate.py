"""Benchmark: vectorised detection mAP against the naive per-prediction loop, with both tIoU tie rules.

Real THUMOS14 test ground truth (data_samples/Thumos14reduced-Annotations, 212 videos, 3358
instances) and about 60k seeded synthetic detections around it (jittered GT copies,
near-duplicates, wrong classes, false positives; `co2net.evaluate.synthetic_detections`),
evaluated under the `co2net` protocol (snippet units, Ambiguous filter, tIoU 0.1:0.1:0.9).
A second set is the same detections snapped to the snippet grid (integer ends, as the localizer
produces them), where tIoU ties between GT are frequent: there the default tie rule (the
reference's `tiou.argsort()[::-1]`) and the documented alternative (`tie_rule='earlier'`) differ.
The numbers describe synthetic detections, not a model.

Usage: python bench/evaluate.py [--n 60000] [--seed 0] [--repeat 5]
Exits non-zero if the fast and naive APs differ by more than 1e-12 (either set, either rule).
Last line: `speedup: Xx` (naive / fast, default rule, first set).
"""
import argparse, sys, time
from pathlib import Path
import numpy as np
from co2net.data import load_annotations, ground_truth, secs_to_snippets
from co2net.evaluate import (PROTOCOLS, synthetic_detections, filter_ambiguous, detection_ap, detection_ap_naive,
                             evaluate_protocol, candidate_pairs)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))   # bench/ helpers, also when imported
from _timing import best_time

def n_tied(gt, dets, min_threshold):
    "Number of detections with two candidate GT of exactly equal tIoU (>= min_threshold)."
    pred, _, tiou = candidate_pairs(gt, dets, min_threshold)
    o = np.lexsort((tiou, pred))
    same = (pred[o][1:] == pred[o][:-1]) & (tiou[o][1:] == tiou[o][:-1])
    return len(np.unique(pred[o][1:][same]))

def compare(name, gt, dets, thresholds, repeat):
    "Time fast and naive under both tie rules on one detection set; print; return (ok, t_naive / t_fast, default rule)."
    fmt = lambda m: ' '.join(f'{100 * x:7.3f}' for x in m)
    print(f'\n{name}: {len(dets["score"])} detections, {n_tied(gt, dets, thresholds.min())} with tied candidate GT')
    ok, out, maps = True, None, {}
    for rule in ('reference', 'earlier'):
        t_fast, ap_fast = best_time(lambda: detection_ap(gt, dets, thresholds, tie_rule=rule), repeat)
        t0 = time.perf_counter(); ap_naive = detection_ap_naive(gt, dets, thresholds, tie_rule=rule)
        t_naive = time.perf_counter() - t0
        diff = float(np.max(np.abs(ap_fast - ap_naive)))
        ok &= diff <= 1e-12
        maps[rule] = ap_fast.mean(0)
        print(f'  tie_rule={rule!r:12} mAP (%) {fmt(maps[rule])}')
        print(f'  {"":25} fast {t_fast:.3f} s (best of {repeat}), naive {t_naive:.3f} s (one run), '
              f'max |AP fast - AP naive| = {diff:.3e}')
        if out is None: out = t_naive / t_fast
    d = maps['reference'] - maps['earlier']
    print(f'  mAP reference - earlier (points): {fmt(d)}   (max |.| {100 * np.abs(d).max():.2e})')
    return ok, out

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
    print(f'tIoU thresholds: {" ".join(f"{t:g}" for t in thresholds)}')

    ok, speedup = compare('synthetic detections', gt, kept, thresholds, args.repeat)
    start = np.floor(kept['start'])
    grid = dict(kept, start=start, end=start + np.maximum(1, np.round(kept['end'] - kept['start'])))
    ok_grid, _ = compare('same detections on the snippet grid', gt, grid, thresholds, args.repeat)

    t_full, res = best_time(lambda: evaluate_protocol(ann, idx, dets, 'co2net'), args.repeat)
    ok &= ok_grid and np.allclose(res.map, detection_ap(gt, kept, thresholds).mean(0), rtol=0, atol=1e-12)
    print(f'\nevaluate_protocol (checks + Ambiguous filter + AP): {t_full:.3f} s (best of {args.repeat}); '
          f'{res.headline()[0]} = {100 * res.headline()[1]:.3f}')
    if not ok: print('FAIL: fast and naive results differ')
    print(f'speedup: {speedup:.0f}x')
    sys.exit(0 if ok else 1)

if __name__ == '__main__': main()
