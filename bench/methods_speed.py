"""Wall time per method: one training iteration and the inference of one video, for CO2-Net, DELU and DDG-Net.

Usage (from the repository root):
  python bench/methods_speed.py [--sizes demo thumos14] [--iters 3] [--demo-iters 20] [--threads 1]
                                [--device cpu|cuda] [--thumos-t 320] [--out bench/results/methods_speed.md]

Random features, random labels (three same-class pairs first, as the batch sampler gives), no files:
  demo      B = 10 videos x T = 100 snippets, 2D = 64 channels, C = 20 classes: the synthetic demo data's size,
            with the settings of bench/make_demo_model.py (`demo` preset + each method's loss weights);
  thumos14  B = 10 x T = 320 (--thumos-t; the DELU / DDG-Net training length, CO2-Net trains at 500), 2D = 2048
            (I3D RGB + FLOW), C = 20: the real THUMOS14 size, with each method's published THUMOS14 preset
            (`thumos14`, `delu-thumos14`, `ddgnet-thumos14`).
The three methods of a size are timed in turns (method 1, 2, 3, then again), so that a change in the machine's
load falls on all of them alike. Per method and size it reports the best (least) and the median time over the
timed repetitions (--iters at the THUMOS14 size, --demo-iters at the demo size; one untimed warm-up first) of
  * train iteration: forward in training mode, the method's criterion (`loss_from_config`, iteration = max_iter/2),
    zero_grad, backward and an Adam step, on a batch of B videos;
  * inference: the forward pass on one video of T snippets in eval mode without gradients (localization and
    evaluation are the same code for every method and are not timed).
Synchronised on CUDA. Timings depend on the machine and its load: quote them with the printed machine line. On a
loaded machine the best time is the better estimate of the cost (load only adds time).
Parameters are counted on the model as built. Nothing here depends on the data: no number is a THUMOS14 result.
"""
from __future__ import annotations
import argparse, os, platform, shlex, statistics, sys, time
from pathlib import Path
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_demo_model import demo_method_config, NAMES
from co2net.config import get_config, model_from_config, loss_from_config

METHODS = ('co2net', 'delu', 'ddgnet')

def size_config(method: str, size: str, thumos_t: int):
    "(config, B, T, 2D, C) of a size."
    if size == 'demo': return demo_method_config(method), 10, 100, 64, 20
    if size == 'thumos14': return get_config('thumos14' if method == 'co2net' else f'{method}-thumos14'), 10, thumos_t, 2048, 20
    raise ValueError(f'unknown size {size!r}; choose demo or thumos14')

def random_batch(B: int, T: int, feat_dim: int, C: int, n_pairs: int = 3, seed: int = 0):
    "Features (B, T, 2D) and multi-hot labels (B, C) with `n_pairs` same-class pairs first."
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(B, T, feat_dim, generator=g)
    y = torch.zeros(B, C)
    y[torch.arange(B), torch.randint(0, C, (B,), generator=g)] = 1
    for p in range(n_pairs): y[2 * p + 1] = y[2 * p]
    return x, y

def build(method: str, size: str, device, thumos_t: int) -> dict:
    "The model, optimiser, batch and the two timed functions of one method at one size."
    cfg, B, T, D2, C = size_config(method, size, thumos_t)
    torch.manual_seed(0)
    model = model_from_config(cfg, C, D2).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    x, y = (t.to(device) for t in random_batch(B, T, D2, C, cfg.n_pairs))
    def step():
        model.train()
        loss = loss_from_config(model(x), y, cfg, iteration=cfg.max_iter // 2)['total']
        opt.zero_grad(set_to_none=True); loss.backward(); opt.step()
    def infer():
        model.eval()
        with torch.no_grad(): model(x[:1])
    return {'method': method, 'size': size, 'B': B, 'T': T, '2D': D2, 'C': C,
            'params': sum(p.numel() for p in model.parameters()), 'fns': {'train': step, 'infer': infer}}

def measure_size(methods, size: str, iters: int, device, thumos_t: int) -> list[dict]:
    "Time every method of `methods` at `size`, in turns; per method the best and the median seconds of each function."
    sync = torch.cuda.synchronize if device.type == 'cuda' else (lambda: None)
    rows = [build(m, size, device, thumos_t) for m in methods]
    times = [{k: [] for k in r['fns']} for r in rows]
    for rep in range(iters + 1):                   # repetition 0 is the warm-up
        for r, t in zip(rows, times):
            for k, f in r['fns'].items():
                t0 = time.perf_counter(); f(); sync()
                if rep: t[k].append(time.perf_counter() - t0)
    out = []
    for r, t in zip(rows, times):
        r = {k: v for k, v in r.items() if k != 'fns'}
        for k in ('train', 'infer'): r[f'{k}_s'], r[f'{k}_median_s'] = min(t[k]), statistics.median(t[k])
        out.append(r)
    return out

def measure(method: str, size: str, iters: int, device, thumos_t: int) -> dict:
    "One method alone (see measure_size)."
    return measure_size([method], size, iters, device, thumos_t)[0]

def machine_line(device) -> str:
    load = os.getloadavg()[0] if hasattr(os, 'getloadavg') else float('nan')
    if device.type == 'cuda': what = torch.cuda.get_device_name(device)
    else: what = f'{platform.processor() or platform.machine()} CPU, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads'
    return f'{what}; load average {load:.1f} at the start; torch {torch.__version__}'

def table(rows, command: str, machine: str) -> str:
    out = ['# Wall time per method (random features)', '', f'Command: `{command}`', '', f'Machine: {machine}.', '',
           'Best (median) of the timed repetitions after one warm-up, the methods of a size timed in turns. Train iteration: '
           'forward (training mode), the method\'s loss, backward and Adam step on a batch of B videos. Inference: forward '
           'of one video of T snippets (eval mode, no gradients), without localization. Ratios (of the best times) are to '
           'CO2-Net at the same size.', '',
           '| size | method | parameters | train iteration, ms | ratio | inference per video, ms | ratio |', '|---|---|---|---|---|---|---|']
    base = {r['size']: r for r in rows if r['method'] == 'co2net'}
    for r in rows:
        b = base.get(r['size'])
        ratio = lambda k: f"{r[k] / b[k]:.2f}x" if b else '–'
        out.append(f"| {r['size']} (B={r['B']}, T={r['T']}, 2D={r['2D']}, C={r['C']}) | {NAMES[r['method']]} | {r['params']:,} | "
                   f"{1e3 * r['train_s']:.1f} ({1e3 * r['train_median_s']:.1f}) | {ratio('train_s')} | "
                   f"{1e3 * r['infer_s']:.1f} ({1e3 * r['infer_median_s']:.1f}) | {ratio('infer_s')} |")
    return '\n'.join(out) + '\n'

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--sizes', nargs='+', default=['demo', 'thumos14'], choices=['demo', 'thumos14'])
    ap.add_argument('--methods', nargs='+', default=list(METHODS), choices=list(METHODS))
    ap.add_argument('--iters', type=int, default=3, help='timed repetitions at the THUMOS14 size (after one warm-up)')
    ap.add_argument('--demo-iters', type=int, default=20, help='timed repetitions at the demo size (after one warm-up)')
    ap.add_argument('--threads', type=int, default=1, help='torch CPU threads (default 1, as the demo and the sweeps; 0: torch default)')
    ap.add_argument('--device', default='cpu', help='cpu or cuda')
    ap.add_argument('--thumos-t', type=int, default=320, help='snippets per video at the THUMOS14 size (320 or 500)')
    ap.add_argument('--out', default='', help='also write the table to this markdown file')
    args = ap.parse_args(argv)
    if min(args.iters, args.demo_iters) < 1: sys.exit('methods_speed: --iters and --demo-iters must be >= 1')
    device = torch.device(args.device)
    if device.type == 'cuda' and not torch.cuda.is_available(): sys.exit('methods_speed: --device cuda, but CUDA is not available')
    if args.threads: torch.set_num_threads(args.threads)
    command = shlex.join(['python', 'bench/methods_speed.py', *(sys.argv[1:] if argv is None else argv)])
    machine = machine_line(device)
    rows = []
    for size in args.sizes:
        rows += measure_size(args.methods, size, args.demo_iters if size == 'demo' else args.iters, device, args.thumos_t)
        for r in rows[-len(args.methods):]:
            print(f"{size:9s} {NAMES[r['method']]:8s} train {1e3 * r['train_s']:9.1f} ms   inference {1e3 * r['infer_s']:8.1f} ms (best)", flush=True)
    md = table(rows, command, machine)
    print(md)
    if args.out: Path(args.out).write_text(md); print(f'wrote {args.out}')

if __name__ == '__main__':
    main()
