"""Time one CO2-Net training iteration, split into batch sampling/loading and the model step.

Usage: python bench/train_step.py [--device cpu|cuda] [--iters N] [--threads N] [--full-run [--full-iters 5000]]

Two configurations, both on random features of realistic lengths (no files needed):
  * THUMOS size: 2048-d features, batch 10 (3 same-class pairs) x 500 snippets, 20 classes, 200 videos
    whose lengths follow the THUMOS14 training videos' durations (data_samples annotations when present);
  * ActivityNet size: the same with 60 snippets, 100 classes and the AvgPool smoothing variant.
Per configuration it reports the median over several iterations of
  * sampling + loading: PairBatchSampler indices, the official stratified snippet sampling (`random_perturb`
    of the official `wsad_dataset.py`) and the (B, N, 2D) tensor (co2net.data.load_batch), loaded into one
    reused buffer (co2net.train.batch_buffer, pinned on CUDA) and copied to the device, exactly as
    co2net.train.train does every iteration;
  * model step: forward, co2net_loss, zero_grad, backward and Adam step (synchronised on CUDA).
Sampling + loading is also timed back to back (no model step in between, warm allocator and caches), both
into the reused buffer and into a fresh array per batch, and the row copy alone with co2net.data.take_rows
(torch index_select, what load_batch uses) against np.take.
`--full-run` (meant for a GPU) also times a whole THUMOS-size run of 5000 iterations on the same data
(sampling, loading and model step, no evaluation). The last line is `sampling_ms: X`, the median time to
sample and load one THUMOS-size batch inside the training loop, through the reused buffer training uses
(the realistic, larger figure). Before it, the time co2net.train.train spends once per start or resume on the
data's content digest (co2net.train.dataset_digest), for the THUMOS-size features.
"""
import argparse, statistics, sys, time
from pathlib import Path
import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]


class RandomFeatureSet:
    "The parts of co2net.data.WtalcDataset that training reads, over random in-memory float32 features."
    def __init__(self, lengths, n_classes, feat_dim, seed=0):
        from co2net.data import ArrayFeatureStore
        rng = np.random.default_rng(seed)
        self.feature_dim, self.n_classes = feat_dim, n_classes
        self.store = ArrayFeatureStore([rng.standard_normal((int(t), feat_dim), dtype=np.float32) for t in lengths])
        self.lengths = np.asarray(lengths, dtype=np.int64)
        lab = np.zeros((len(lengths), n_classes), np.float32)
        lab[np.arange(len(lengths)), rng.integers(0, n_classes, len(lengths))] = 1
        extra = rng.random(len(lengths)) < 0.2                  # some multi-label videos
        lab[np.flatnonzero(extra), rng.integers(0, n_classes, extra.sum())] = 1
        self.labels = lab
        self.train_idx = np.arange(len(lengths))
    def features(self, i): return self.store.features(i)
    def n_snippets(self, i): return int(self.lengths[i])
    def __len__(self): return len(self.lengths)


def thumos_train_lengths(n=200, seed=0):
    "Snippet counts of the THUMOS14 training videos (from the annotations' durations), else a lognormal draw."
    ann = ROOT/'data_samples'/'Thumos14reduced-Annotations'
    try:
        dur = np.load(ann/'duration.npy', allow_pickle=True).astype(float).reshape(-1)
        sub = np.array([s.decode() if isinstance(s, bytes) else str(s) for s in np.load(ann/'subset.npy', allow_pickle=True)])
        t = np.round(dur[sub == 'validation'] * 25 / 16).astype(int)
        if len(t) >= 10: return np.maximum(t[:n], 11)
    except Exception: pass
    return np.maximum(np.random.default_rng(seed).lognormal(np.log(300), 0.8, n).astype(int), 11)


def sync(device):
    if device.type == 'cuda': torch.cuda.synchronize()


def bench_config(name, lengths, n_classes, n_snippets, topk_ratio, smooth, device, iters, warmup=2):
    from co2net.data import PairBatchSampler, load_batch
    from co2net.model import CO2Net, anet_smooth_kernel
    from co2net.losses import co2net_loss
    from co2net.train import batch_buffer
    ds = RandomFeatureSet(lengths, n_classes, 2048)
    sampler = PairBatchSampler(ds.labels, ds.train_idx, batch_size=10, n_pairs=3, seed=0)
    rng = np.random.default_rng(0)
    torch.manual_seed(0)
    model = CO2Net(n_classes=n_classes, feat_dim=2048,
                   smooth_kernel=anet_smooth_kernel(n_snippets, 5) if smooth else None).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=5e-5, weight_decay=1e-3)
    batches = iter(_endless(sampler))
    buf = batch_buffer(10, n_snippets, 2048, device)   # the buffer co2net.train.train refills every iteration
    t_fresh, t_reuse = [], []
    for k in range(25):                       # sampling + loading back to back, without model steps in between
        t0 = time.perf_counter(); x, y = load_batch(ds, next(batches), n_snippets, rng); t_fresh.append(time.perf_counter() - t0)
        t0 = time.perf_counter(); x, y = load_batch(ds, next(batches), n_snippets, rng, out=buf); t_reuse.append(time.perf_counter() - t0)
    from co2net.data import sample_snippets, take_rows
    t_np, t_take = [], []
    for k in range(24):                       # the row copy alone: np.take against take_rows (what load_batch uses)
        idx = next(batches); rows = [sample_snippets(ds.n_snippets(i), n_snippets, rng) for i in idx]
        t0 = time.perf_counter()
        if k % 2:
            for j, i in enumerate(idx): np.take(ds.store.arrays[i], rows[j], axis=0, out=buf[j])
            t_np.append(time.perf_counter() - t0)
        else:
            for j, i in enumerate(idx): take_rows(ds.store.arrays[i], rows[j], buf[j])
            t_take.append(time.perf_counter() - t0)
    t_data, t_model = [], []
    for k in range(warmup + iters):           # the training loop of co2net.train.train
        sync(device); t0 = time.perf_counter()
        x, y = load_batch(ds, next(batches), n_snippets, rng, out=buf)   # (10, N, 2048), (10, C)
        x, y = x.to(device), y.to(device)
        sync(device); t1 = time.perf_counter()
        model.train()
        out = model(x)
        loss = co2net_loss(out, y, n_pairs=3, topk_ratio=topk_ratio)['total']
        opt.zero_grad(set_to_none=True); loss.backward(); opt.step()
        sync(device); t2 = time.perf_counter()
        if k >= warmup: t_data.append(t1 - t0); t_model.append(t2 - t1)
    ms = lambda v: 1000 * statistics.median(v)
    print(f'{name}: batch 10 x {n_snippets} snippets x 2048-d, {n_classes} classes, {device.type}, '
          f'median of {iters} iterations: sampling+loading {ms(t_data):.2f} ms (reused buffer, as in training), '
          f'model step {ms(t_model):.1f} ms, total {ms(t_data) + ms(t_model):.1f} ms/iteration; '
          f'sampling+loading back to back (25 batches, no model step between): reused buffer {ms(t_reuse[5:]):.2f} ms, '
          f'fresh array per batch {ms(t_fresh[5:]):.2f} ms; row copy alone: take_rows {ms(t_take[2:]):.2f} ms, '
          f'np.take {ms(t_np[2:]):.2f} ms', flush=True)
    return ms(t_data), ms(t_model), (ds, sampler, model, opt, rng, buf)


def _endless(sampler):
    while True: yield from sampler


def official_sampling_ms(lengths, n_snippets=500, reps=5):
    "The official per-snippet Python loop (random_perturb) for one batch of 10 videos, for reference."
    import random
    def random_perturb(length, n):
        if n == length: return np.arange(n)
        samples = np.arange(n) * length / n
        for i in range(n):
            if i < n - 1:
                if int(samples[i]) != int(samples[i + 1]):
                    samples[i] = np.random.choice(range(int(samples[i]), int(samples[i + 1]) + 1))
                else: samples[i] = int(samples[i])
            else:
                if int(samples[i]) < length - 1: samples[i] = np.random.choice(range(int(samples[i]), length))
                else: samples[i] = int(samples[i])
        return samples.astype(int)
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        for L in random.sample(list(lengths), 10): random_perturb(int(L), n_snippets)
        times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--device', default='cpu', help='cpu or cuda')
    ap.add_argument('--iters', type=int, default=0, help='timed iterations per config (default: 5 on CPU, 50 on CUDA)')
    ap.add_argument('--threads', type=int, default=0, help='torch CPU threads (0: torch default)')
    ap.add_argument('--full-run', action='store_true', help='also time a 5000-iteration THUMOS-size run (GPU)')
    ap.add_argument('--full-iters', type=int, default=5000, help='iterations of --full-run')
    args = ap.parse_args()
    if args.threads: torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == 'cuda' and not torch.cuda.is_available(): sys.exit('bench: --device cuda but CUDA is not available')
    iters = args.iters or (50 if device.type == 'cuda' else 5)
    print(f'torch {torch.__version__}, {torch.get_num_threads()} CPU threads, device {device}'
          + (f' ({torch.cuda.get_device_name(device)})' if device.type == 'cuda' else ''), flush=True)
    lengths = thumos_train_lengths()
    print(f'THUMOS-size video lengths: {len(lengths)} videos, median {int(np.median(lengths))} snippets '
          f'({100 * np.mean(lengths < 500):.0f}% shorter than 500)', flush=True)
    print(f'reference: the official per-snippet sampling loop takes {official_sampling_ms(lengths):.1f} ms per batch '
          f'(indices only, no loading)', flush=True)
    anet_lengths = np.maximum(np.random.default_rng(1).lognormal(np.log(180), 0.6, 400).astype(int), 11)
    bench_config('ActivityNet size', anet_lengths, 100, 60, 5, True, device, iters)
    d_ms, m_ms, state = bench_config('THUMOS size', lengths, 20, 500, 7, False, device, iters)
    if args.full_run:
        from co2net.data import load_batch
        from co2net.losses import co2net_loss
        ds, sampler, model, opt, rng, buf = state
        batches = iter(_endless(sampler))
        sync(device); t0 = time.perf_counter()
        for it in range(args.full_iters):
            x, y = load_batch(ds, next(batches), 500, rng, out=buf)
            out = model(x.to(device))
            loss = co2net_loss(out, y.to(device), n_pairs=3, topk_ratio=7)['total']
            opt.zero_grad(set_to_none=True); loss.backward(); opt.step()
        sync(device)
        print(f'full THUMOS-size run, {args.full_iters} iterations on random features, {device.type}: '
              f'{time.perf_counter() - t0:.1f} s (no evaluation)', flush=True)
    from co2net.train import dataset_digest      # computed once at every start and resume of co2net.train.train
    ds = state[0]
    mb = sum(a.nbytes for a in ds.store.arrays) / 1e6
    t0 = time.perf_counter(); dataset_digest(ds); dt = time.perf_counter() - t0
    print(f'dataset_digest (once per start/resume of train): {dt:.2f} s for {mb:.0f} MB of THUMOS-size features '
          f'({mb / dt:.0f} MB/s)', flush=True)
    print(f'sampling_ms: {d_ms:.2f}')


if __name__ == '__main__': main()
