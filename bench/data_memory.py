"""Peak memory and speed of train-style batch loading from a THUMOS-size per-video feature folder.

Usage: python bench/data_memory.py [--batches 200] [--n-snippets 500] [--seed 0] [--regenerate]

1. Builds (once; cached in bench/_cache/, which git ignores) a THUMOS-size feature set on the real
   THUMOS14 timeline: the 412 videos of data_samples/Thumos14reduced-Annotations, T_i =
   round(duration * 25 / 16) snippets, 2048-d float32 random non-negative values (about 1.1 GB),
   one <videoname>.npy per video, written video by video in a child process so that generation
   never inflates the measured process.
2. In this process: opens it with co2net.data.load_dataset (features memory-mapped per video,
   with the full NaN/Inf check that reads every video once), then samples `--batches` training
   batches exactly as training does (PairBatchSampler + load_batch, B=10, N=500).
3. Prints the median batch load time and, as the LAST line, `peak_rss_fraction: X` = peak
   resident memory of this process (VmHWM, which includes the ~220 MB of the torch import)
   divided by the bytes of the feature files on disk.

The numbers are about a synthetic feature set with real THUMOS14 durations, not about real features.
"""
import argparse, json, os, subprocess, sys, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT/'bench'/'_cache'/'thumos_size'
NAME = 'Thumos14reduced'
FEAT_DIM = 2048
RECIPE = {'version': 1, 'feat_dim': FEAT_DIM, 'dist': 'exponential(1) * channel scale', 'seed': 0}

def peak_rss_bytes():
    "Peak resident set size of this process (VmHWM), in bytes."
    for line in open('/proc/self/status'):
        if line.startswith('VmHWM:'): return int(line.split()[1]) * 1024
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

def generate(cache: Path):
    "Write the annotation folder and one feature file per video (runs in a child process)."
    import numpy as np
    from co2net.data import load_annotations, write_annotations, secs_to_snippets
    ann = load_annotations(ROOT/'data_samples'/f'{NAME}-Annotations')
    tmp = cache.with_name(cache.name + '.tmp')
    if tmp.exists():
        import shutil; shutil.rmtree(tmp)
    write_annotations(ann, tmp/f'{NAME}-Annotations')
    feat_dir = tmp/f'{NAME}-I3D-JOINTFeatures'; feat_dir.mkdir(parents=True)
    rng = np.random.default_rng(RECIPE['seed'])
    scale = (10.0 ** rng.uniform(-3, 0, FEAT_DIM)).astype(np.float32)  # per-channel means over 3 decades, like I3D
    for i, (name, t) in enumerate(zip(ann.names, secs_to_snippets(ann.duration).astype(int))):
        x = np.random.default_rng([RECIPE['seed'], i]).standard_exponential((t, FEAT_DIM), dtype=np.float32)
        x *= scale
        np.save(feat_dir/f'{name}.npy', x)
        del x
    (tmp/'recipe.json').write_text(json.dumps(RECIPE))
    os.rename(tmp, cache)

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--batches', type=int, default=200)
    ap.add_argument('--n-snippets', type=int, default=500)
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--regenerate', action='store_true')
    ap.add_argument('--reuse-buffer', action='store_true', help='load every batch into one preallocated buffer (load_batch out=)')
    ap.add_argument('--generate-only', action='store_true', help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.generate_only:
        generate(CACHE); return

    ok = (CACHE/'recipe.json').exists() and json.loads((CACHE/'recipe.json').read_text()) == RECIPE
    if args.regenerate or not ok:
        if CACHE.exists():
            import shutil; shutil.rmtree(CACHE)
        CACHE.parent.mkdir(parents=True, exist_ok=True)
        t0 = time.time()
        subprocess.run([sys.executable, __file__, '--generate-only'], check=True)
        print(f'generated {CACHE} in {time.time() - t0:.1f} s')
    else:
        print(f'reusing {CACHE}')

    import numpy as np, torch
    from co2net.data import load_dataset, PairBatchSampler, load_batch
    torch.set_num_threads(1)
    feat_dir = CACHE/f'{NAME}-I3D-JOINTFeatures'
    disk_bytes = sum(p.stat().st_size for p in feat_dir.glob('*.npy'))
    rss_import = peak_rss_bytes()

    t0 = time.perf_counter()
    ds = load_dataset(CACHE, NAME, preset='thumos14')  # full NaN/Inf check reads every video once
    t_open = time.perf_counter() - t0
    rss_open = peak_rss_bytes()
    print(ds)
    sampler = PairBatchSampler(ds.labels, ds.train_idx, batch_size=10, n_pairs=3, seed=args.seed)
    rng = np.random.default_rng(args.seed)
    times, checksum = [], 0.0
    batches = iter(sampler)
    buf = np.empty((10, args.n_snippets, FEAT_DIM), np.float32) if args.reuse_buffer else None
    for _ in range(args.batches):
        idx = next(batches)
        t0 = time.perf_counter()
        x, y = load_batch(ds, idx, args.n_snippets, rng, out=buf)  # the previous batch is alive until here
        times.append(time.perf_counter() - t0)
        checksum += float(x[:, ::97, ::101].sum())  # touch the result
    assert x.shape == (10, args.n_snippets, FEAT_DIM)
    peak = peak_rss_bytes()
    times = np.array(times) * 1e3
    # reference: a plain copy of one batch worth of memory on this machine (after the peak was taken)
    a, b = np.ones((10, args.n_snippets, FEAT_DIM), np.float32), np.empty((10, args.n_snippets, FEAT_DIM), np.float32)
    copy_ms = []
    for _ in range(20):
        t0 = time.perf_counter(); np.copyto(b, a); copy_ms.append((time.perf_counter() - t0) * 1e3)
    print(f'features on disk: {disk_bytes / 2**20:.0f} MiB in {len(ds)} files; open + full value check: {t_open:.2f} s')
    print(f'peak RSS: after imports {rss_import / 2**20:.0f} MiB, after opening {rss_open / 2**20:.0f} MiB, '
          f'after {args.batches} batches {peak / 2**20:.0f} MiB')
    print(f'batch load (B=10, N={args.n_snippets}, {FEAT_DIM}-d, folder store, warm page cache): '
          f'median {np.median(times):.2f} ms, p90 {np.percentile(times, 90):.2f} ms, max {times.max():.2f} ms; '
          f'plain copy of {a.nbytes / 2**20:.0f} MiB here: median {np.median(copy_ms):.2f} ms; '
          f'{"one reused buffer" if args.reuse_buffer else "a new buffer per batch"}')
    print(f'peak_rss_fraction: {peak / disk_bytes:.3f}')

if __name__ == '__main__':
    main()
