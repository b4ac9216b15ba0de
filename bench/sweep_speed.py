"""Wall time of a 2 x 2 sweep (fusion ccm/concat x seeds 0/1, small demo config) on a local Ray with 1 worker
(1 CPU) against 2 workers (2 CPUs), each run one torch thread; the local backend (one run after another in this
process) for reference. Each Ray measurement starts and stops its own local Ray, which is part of the time.

Usage: python bench/sweep_speed.py [--iters 200] [--n-videos 40] [--workers 1 2] [--no-local]
Prints one line per measurement and checks that every backend produced the same metrics.
"""
import argparse, tempfile, time
from pathlib import Path
from co2net.sweep import run_sweep
from co2net.train import get_config

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--iters', type=int, default=200, help='training iterations of each run')
    ap.add_argument('--n-videos', type=int, default=40, help='videos of the synthetic set')
    ap.add_argument('--workers', type=int, nargs='+', default=[1, 2], help='CPUs of the local Ray (one run per CPU)')
    ap.add_argument('--no-local', action='store_true', help='skip the local-backend reference')
    args = ap.parse_args(argv)
    cfg = get_config('demo', synthetic={'n_videos': args.n_videos}, max_iter=args.iters, eval_interval=args.iters,
                     selection='last', lr=1e-2, device='cpu')
    grid, seeds = ['fusion=ccm,concat'], [0, 1]
    print(f'2 x 2 sweep (fusion ccm/concat x seeds 0/1), demo preset with {args.n_videos} synthetic videos, '
          f'{args.iters} iterations per run, 1 torch thread per run; wall times on this machine (shared machines: noisy)')
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        setups = ([] if args.no_local else [('local backend (in process, one run at a time)', dict(backend='local'))])
        setups += [(f'Ray, {w} worker(s) ({w} CPU)', dict(backend='ray', ray_cpus=w, cpus_per_run=1)) for w in args.workers]
        for i, (label, kw) in enumerate(setups):
            t0 = time.perf_counter()
            res = run_sweep(cfg, grid, seeds, Path(tmp)/f's{i}', log=lambda *a: None, **kw)
            wall = time.perf_counter() - t0
            if res.counts['new'] != 4: raise SystemExit(f'{label}: {res.line}')
            results[label] = (wall, res.metrics(), sum(r['seconds'] for r in res.records.values()))
            print(f'{label:<48} {wall:7.1f} s wall  (sum of the 4 runs\' own times {results[label][2]:6.1f} s)', flush=True)
    metrics = [m for _, m, _ in results.values()]
    print('same metrics in every setup:', all(m == metrics[0] for m in metrics))
    ray = [(l, w) for l, (w, _, _) in results.items() if l.startswith('Ray')]
    if len(ray) >= 2: print(f'speed-up {ray[0][0]} -> {ray[-1][0]}: {ray[0][1] / ray[-1][1]:.2f}x')

if __name__ == '__main__': main()
