"""Cost of reading .npy files safely: co2net.data.load_npy against np.load(allow_pickle=True).

Usage (from the repository root): python bench/safe_load.py [--mb 200] [--repeat 5]

1. The real annotation files in data_samples/ (THUMOS14 and ActivityNet1.2, W-TALC layout): best-of-`repeat`
   time per folder for both readers, and whether they return the same arrays.
2. An object-array feature file in the official layout (one float32 (T_i, 2048) array per video, T_i from the
   THUMOS14 durations), cut to about `--mb` MB, written to a temporary folder. Each reader runs in a fresh
   subprocess that reports its wall time and how far its peak RSS (VmHWM, reset after the imports) rose
   above the RSS before reading (Linux /proc), so both start from the same page cache
   (the file is read once beforehand to warm it).

Prints one line per measurement. Timings on a shared machine are noisy; compare within one run.
"""
import argparse, json, subprocess, sys, tempfile, time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from co2net.data import load_npy, load_annotations  # noqa: E402
from _timing import best_time  # noqa: E402

CHILD = r'''
import json, sys, time
import numpy as np
from co2net.data import load_npy
path, which = sys.argv[1], sys.argv[2]
def status(key):
    return int(next(l for l in open('/proc/self/status') if l.startswith(key)).split()[1]) / 1024
before = status('VmRSS:')
open('/proc/self/clear_refs', 'w').write('5')  # reset the peak (VmHWM), so the imports' own peak does not count
t = time.perf_counter()
a = np.load(path, allow_pickle=True, encoding='bytes') if which == 'np.load' else load_npy(path, 'feature file', encoding='bytes')
dt = time.perf_counter() - t
print(json.dumps({'seconds': dt, 'peak_rss_mb': status('VmHWM:') - before,
                  'n': len(a), 'rows': int(sum(x.shape[0] for x in a))}))
'''


def annotation_folders(repeat):
    for name in ('Thumos14reduced', 'ActivityNet1.2'):
        folder = ROOT/'data_samples'/f'{name}-Annotations'
        files = sorted(folder.glob('*.npy'))
        same = all(_same(load_npy(p), np.load(p, allow_pickle=True)) for p in files)
        t_np = best_time(lambda: [np.load(p, allow_pickle=True) for p in files], repeat)[0]
        t_safe = best_time(lambda: [load_npy(p) for p in files], repeat)[0]
        t_ann = best_time(lambda: load_annotations(folder), repeat)[0]
        print(f'{name} annotations ({len(files)} .npy, {sum(p.stat().st_size for p in files) / 1e6:.1f} MB): '
              f'np.load {t_np * 1e3:.1f} ms, load_npy {t_safe * 1e3:.1f} ms ({t_safe / t_np:.2f}x), '
              f'load_annotations (with all checks) {t_ann * 1e3:.1f} ms; identical arrays: {same}')


def _same(a, b):
    if type(a) is not type(b): return False
    if isinstance(a, np.ndarray):
        if (a.dtype, a.shape) != (b.dtype, b.shape): return False
        if a.dtype == object: return all(_same(u, v) for u, v in zip(a.ravel(), b.ravel()))
        return np.array_equal(a, b)
    if isinstance(a, (list, tuple)): return len(a) == len(b) and all(_same(u, v) for u, v in zip(a, b))
    return a == b


def feature_file(mb, repeat):
    ann = load_annotations(ROOT/'data_samples'/'Thumos14reduced-Annotations')
    lengths = np.maximum(1, np.round(ann.duration * 25 / 16).astype(int))
    budget_rows = int(mb * 1e6 / (2048 * 4))
    keep = np.flatnonzero(np.cumsum(lengths) <= budget_rows)
    rng = np.random.default_rng(0)
    arrays = np.empty(len(keep), dtype=object)
    for j, i in enumerate(keep): arrays[j] = rng.exponential(size=(lengths[i], 2048)).astype(np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp)/'Bench-I3D-JOINTFeatures.npy'
        np.save(path, arrays, allow_pickle=True)
        del arrays
        path.read_bytes()  # warm the page cache for both readers
        size = path.stat().st_size / 1e6
        for which in ('np.load', 'load_npy') * repeat:
            out = subprocess.run([sys.executable, '-c', CHILD, str(path), which], capture_output=True, text=True,
                                 cwd=ROOT, check=True)
            r = json.loads(out.stdout)
            print(f'object-array feature file {size:.0f} MB ({r["n"]} videos, {r["rows"]} rows x 2048 float32): '
                  f'{which:8s} {r["seconds"]:.3f} s, peak RSS growth {r["peak_rss_mb"]:.0f} MB')


if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--mb', type=float, default=200, help='size of the synthetic feature file (MB)')
    ap.add_argument('--repeat', type=int, default=3, help='repetitions (annotations: best of; feature file: all shown)')
    args = ap.parse_args()
    annotation_folders(args.repeat)
    feature_file(args.mb, args.repeat)
