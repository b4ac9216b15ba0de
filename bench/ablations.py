"""The structure of the CO2-Net paper's ablation tables 3-6, re-run on synthetic THUMOS-like data.

Usage: python bench/ablations.py [--iters 800] [--seeds 0 1 2] [--lr 3e-3] [--workers 1]
                                 [--tables 3 4 5 6] [--out bench/results] [--no-figure]

Every row trains CO2-Net (or a variant) from scratch on the synthetic demo set of co2net.synthetic
(make_demo_dataset, seed 0: 200 videos, 100 train / 100 test, 20 classes, 32 channels per
modality, THUMOS14 layout), once per seed, for a fixed number of iterations. Training is the one
loop of the library, co2net.train.train, with the 'demo' preset (Adam, batch 10 with 3 same-class
pairs, 100 snippets per video) except the learning rate (--lr), the variant's model and loss fields
of co2net.train.Config (fusion, main_context, aux_context, mutual_metric, loss_terms) and
selection 'last': every training video trains and nothing is evaluated during training. The LAST
iteration's model is scored on the test split (ground truth of ds.test_gt_idx) with the 'co2net'
protocol (no model selection at all, so no peeking at the test set).
Rows that are the same variant (the full CO2-Net appears in all four tables) are trained once.

Tables (paper section 4.4):
  3  loss components: MIL only, then terms added (which terms each paper row used is not readable
     in the paper text we have; see ROW NOTES in the output);
  4  mutual-learning metric: MSE / MAE / KL / JS;
  5  CCM main/auxiliary context: Local-Local, Local-Global, Global-Local (the paper's CCM);
  6  fusion: Add / Concat / SE / CCM (SSMA is not implemented: its layers cannot be specified
     faithfully from the paper, see nbs/02_ccm).
Output: {out}/ablations.csv (one line per row and seed, plus mean/std lines), {out}/ablations.md,
and {out}/figure5_synthetic.png (paper Figure 5 style: GT and the detections of the four fusion
variants of seed 0 on one test video). Every number is on SYNTHETIC data; the paper's THUMOS14
numbers sit in a separate column, copied from the paper.
"""
from __future__ import annotations
import argparse, csv, io, json, math, os, sys, tempfile, time
from pathlib import Path
import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
from co2net.losses import LOSS_TERMS as ALL_TERMS   # ('mil_orig', 'mil_supp', 'coactivity', 'mutual', 'norm', 'guide')
MIL = ('mil_orig', 'mil_supp')
FULL = dict(use=ALL_TERMS, mutual_metric='mse', fusion='ccm', main_context='global', aux_context='local')

def variant(**kw) -> dict:
    "A full CO2-Net variant: FULL with `kw` changed."
    unknown = set(kw) - set(FULL)
    if unknown: raise ValueError(f'unknown variant keys {sorted(unknown)}; valid: {sorted(FULL)}')
    v = {**FULL, **kw}
    v['use'] = tuple(t for t in ALL_TERMS if t in set(v['use']))
    return v

def variant_key(v: dict) -> str:
    "A stable text key of a variant (rows with the same key are trained once)."
    return json.dumps({k: list(v[k]) if k == 'use' else v[k] for k in sorted(v)}, sort_keys=True)

# Paper numbers: THUMOS14, AVG mAP over tIoU 0.1:0.7 (%), as printed in the paper's tables (section 4.4).
# Table 3: the column headers (which loss each check mark stands for) are lost in our text copy; the rows
# are readable as "Exp k, n check marks, AVG". Exp 1 = MIL only and Exp 6 = all terms are stated in the text.
TABLES = {
    3: dict(title='Table 3: loss components', rows=[
        ('MIL only (mil_orig + mil_supp)', variant(use=MIL), '38.1 (Exp 1: MIL only)'),
        ('MIL + co-activity', variant(use=MIL + ('coactivity',)), '40.0 (Exp 2: 2 terms, which ones unreadable)'),
        ('MIL + co-activity + norm', variant(use=MIL + ('coactivity', 'norm')), '41.4 (Exp 3: 3 terms, which ones unreadable)'),
        ('all but mutual learning', variant(use=MIL + ('coactivity', 'norm', 'guide')), '42.8 (Exp 4: 4 terms, which ones unreadable)'),
        ('all but co-activity', variant(use=MIL + ('mutual', 'norm', 'guide')), '42.6 (Exp 5: 4 terms, which ones unreadable)'),
        ('all terms (CO2-Net)', variant(), '44.6 (Exp 6: all terms)'),
    ]),
    4: dict(title='Table 4: mutual-learning metric', rows=[
        ('MAE', variant(mutual_metric='mae'), '44.3'),
        ('KL', variant(mutual_metric='kl'), '43.8'),
        ('JS', variant(mutual_metric='js'), '44.5'),
        ('MSE (CO2-Net)', variant(), '44.6'),
    ]),
    5: dict(title='Table 5: CCM context of the main / auxiliary modality', rows=[
        ('Local / Local', variant(main_context='local', aux_context='local'), '43.0'),
        ('Local / Global', variant(main_context='local', aux_context='global'), '44.0'),
        ('Global / Local (CO2-Net)', variant(), '44.6'),
    ]),
    6: dict(title='Table 6: fusion of the two modalities', rows=[
        ('Add', variant(fusion='add'), '39.9'),
        ('Concat', variant(fusion='concat'), '39.5'),
        ('SSMA (not implemented)', None, '38.0'),
        ('SE', variant(fusion='se'), '43.0'),
        ('CCM (CO2-Net)', variant(), '44.6'),
    ]),
}
# Per-threshold paper numbers that are readable (THUMOS14, %), for reference in the markdown.
PAPER_DETAIL = {
    4: 'paper Table 4, mAP@0.1..0.7: MAE 69.2 63.0 53.8 45.2 38.6 26.2 13.9; KL 67.7 62.2 53.9 44.8 37.3 25.7 14.7; '
       'JS 69.2 63.3 54.5 46.0 38.3 26.5 14.1; MSE 70.1 63.6 54.5 45.7 38.3 26.4 13.4',
    5: 'paper Table 5, mAP@0.1/0.3/0.5/0.7: Local-Local 68.1 52.6 36.3 13.2; Local-Global 70.0 54.1 37.5 12.3; '
       'Global-Local 70.1 54.5 38.3 13.4',
}

def data_digest(root) -> str:
    "One SHA-256 over every file of a generated data set (co2net.synthetic.file_digests): which synthetic data a table used."
    import hashlib
    from co2net.synthetic import file_digests
    return hashlib.sha256(json.dumps(file_digests(root), sort_keys=True).encode()).hexdigest()

def make_data(root, n_videos: int = 200, seed: int = 0):
    "Write and open the synthetic demo set (co2net.synthetic.make_demo_dataset) under `root`."
    from co2net.synthetic import make_demo_dataset, DEMO_NAME
    from co2net.data import load_dataset
    make_demo_dataset(root, seed=seed, n_videos=n_videos)
    return load_dataset(root, DEMO_NAME, preset='thumos14')

def variant_config(v: dict, seed: int, iters: int, lr: float = 3e-3, out_dir='runs/ablation'):
    """The `co2net.train.Config` of one bench run: the 'demo' preset with variant `v` (its model and loss fields),
    `seed`, `iters` iterations and learning rate `lr`; selection 'last' (every training video trains, no evaluation
    during training), one evaluation interval = the whole run (a single `last.pt`), no progress bar, CPU."""
    from co2net.train import get_config
    return get_config('demo', lr=lr, seed=seed, max_iter=iters, eval_interval=iters, device='cpu', selection='last',
                      progress=False, out_dir=str(out_dir), fusion=v['fusion'], main_context=v['main_context'],
                      aux_context=v['aux_context'], mutual_metric=v['mutual_metric'], loss_terms=tuple(v['use']))

def train_variant(ds, v: dict, seed: int, iters: int, lr: float = 3e-3, return_model: bool = False):
    """Train variant `v` with `co2net.train.train` (config `variant_config`) on the training split of `ds`; the
    last model is scored on the test split against `ds.test_gt_idx` ('co2net' protocol). Returns a dict."""
    import warnings
    from co2net.train import train, read_metrics, headline_average
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        # a variant that makes no detection scores 0, which the table shows; no need to warn about it
        warnings.filterwarnings('ignore', message='no detections to score')
        cfg = variant_config(v, seed, iters, lr, out_dir=tmp)
        run = train(cfg, dataset=ds, verbose=False)
        last = [r for r in read_metrics(Path(tmp)/'metrics.jsonl') if r['kind'] == 'train'][-1]
    if last['iter'] != iters: raise RuntimeError(f'variant {variant_key(v)} seed {seed}: last logged iteration {last["iter"]} != {iters}')
    res = run.test['last']
    thr = np.asarray(res.thresholds)
    out = {'seed': seed, 'avg_0.1:0.7': 100 * headline_average(res, 'thumos14')[1],
           'map@0.5': 100 * float(np.asarray(res.map)[np.isclose(thr, 0.5)][0]),
           'map': [100 * float(m) for m in res.map], 'thresholds': [float(t) for t in thr],
           'train_seconds': round(last['seconds'], 2), 'final_loss': float(last['loss']['total'])}
    if return_model: out['model'] = run.model
    return out

def _job(args):
    "One (variant, seed) run in a worker process: returns (key, seed, result without the model, state_dict or None)."
    root, key, seed, iters, lr, keep = args
    torch.set_num_threads(1)
    ds = _job.cache.get(root) or make_data_cached(root)
    _job.cache[root] = ds
    r = train_variant(ds, json.loads(key), seed, iters, lr, return_model=keep)
    m = r.pop('model', None)
    return key, seed, r, ({k: t.clone() for k, t in m.state_dict().items()} if m is not None else None)
_job.cache = {}

def make_data_cached(root):
    from co2net.synthetic import DEMO_NAME
    from co2net.data import load_dataset
    return load_dataset(root, DEMO_NAME, preset='thumos14')

def run_tables(ds, tables=(3, 4, 5, 6), seeds=(0, 1, 2), iters: int = 800, lr: float = 3e-3, workers: int = 1,
               data_root=None, keep_models_for=(), log=print):
    """Train every distinct variant of `tables` once per seed. Returns ({key: [result per seed]}, {key: model of seeds[0]})
    for the variants in `keep_models_for` (variant dicts)."""
    keys = []
    for t in tables:
        for _, v, _ in TABLES[t]['rows']:
            if v is not None and variant_key(v) not in keys: keys.append(variant_key(v))
    keep = {variant_key(v) for v in keep_models_for}
    jobs = [(k, s) for k in keys for s in seeds]
    results, models = {k: [] for k in keys}, {}
    t0 = time.time()
    if workers <= 1:
        for n, (k, s) in enumerate(jobs, 1):
            r = train_variant(ds, json.loads(k), s, iters, lr, return_model=(k in keep and s == seeds[0]))
            m = r.pop('model', None)
            if m is not None: models[k] = m
            results[k].append(r)
            log(f'[{n}/{len(jobs)}] {time.time() - t0:6.0f}s  seed {s}  AVG {r["avg_0.1:0.7"]:5.1f}  {k}')
    else:
        from concurrent.futures import ProcessPoolExecutor
        if data_root is None: raise ValueError('run_tables: workers > 1 needs data_root (each process opens the data itself)')
        from co2net.train import model_from_config
        with ProcessPoolExecutor(workers) as pool:
            args = [(str(data_root), k, s, iters, lr, k in keep and s == seeds[0]) for k, s in jobs]
            for n, (k, s, r, sd) in enumerate(pool.map(_job, args), 1):
                results[k].append(r)
                if sd is not None:
                    m = model_from_config(variant_config(json.loads(k), s, iters, lr), ds.n_classes, ds.feature_dim)
                    m.load_state_dict(sd)
                    models[k] = m
                log(f'[{n}/{len(jobs)}] {time.time() - t0:6.0f}s  seed {s}  AVG {r["avg_0.1:0.7"]:5.1f}  {k}')
    for k in results: results[k].sort(key=lambda r: r['seed'])
    return results, models

def mean_std(values) -> tuple[float, float]:
    "Mean and sample standard deviation (ddof=1; 0 for a single value)."
    a = np.asarray(values, dtype=np.float64)
    return float(a.mean()), float(a.std(ddof=1)) if len(a) > 1 else 0.0

def table_rows(results, tables=(3, 4, 5, 6)) -> list[dict]:
    "One dict per table row: table, row, variant key, per-seed AVG, mean, std, mAP@0.5 mean/std, paper number."
    rows = []
    for t in tables:
        for name, v, paper in TABLES[t]['rows']:
            r = results.get(variant_key(v), []) if v is not None else []
            avg = [x['avg_0.1:0.7'] for x in r]; m5 = [x['map@0.5'] for x in r]
            rows.append({'table': t, 'row': name, 'variant': variant_key(v) if v is not None else '',
                         'seeds': [x['seed'] for x in r], 'avg_per_seed': avg,
                         'avg_mean': mean_std(avg)[0] if avg else math.nan, 'avg_std': mean_std(avg)[1] if avg else math.nan,
                         'map05_mean': mean_std(m5)[0] if m5 else math.nan, 'map05_std': mean_std(m5)[1] if m5 else math.nan,
                         'paper_thumos14_avg': paper})
    return rows

def write_csv(rows, path):
    with open(path, 'w', newline='') as f:
        w = csv.writer(f)
        w.writerow(['table', 'row', 'data', 'seeds', 'synthetic_avg_mAP_0.1:0.7_per_seed', 'synthetic_avg_mean', 'synthetic_avg_std',
                    'synthetic_mAP@0.5_mean', 'synthetic_mAP@0.5_std', 'paper_THUMOS14_avg_mAP_0.1:0.7', 'variant'])
        for r in rows:
            w.writerow([r['table'], r['row'], 'synthetic (co2net.synthetic demo set), NOT THUMOS14' if r['seeds'] else 'not run',
                        ' '.join(map(str, r['seeds'])), ' '.join(f'{x:.2f}' for x in r['avg_per_seed']),
                        '' if not r['seeds'] else f"{r['avg_mean']:.2f}", '' if not r['seeds'] else f"{r['avg_std']:.2f}",
                        '' if not r['seeds'] else f"{r['map05_mean']:.2f}", '' if not r['seeds'] else f"{r['map05_std']:.2f}",
                        r['paper_thumos14_avg'], r['variant']])

def markdown(rows, meta: dict, tables=(3, 4, 5, 6)) -> str:
    "The tables as markdown: synthetic mean ± std next to the paper's THUMOS14 number (separate, labelled column)."
    n_seeds = max((len(r['seeds']) for r in rows), default=0)
    out = [f"# Ablations (paper Tables 3-6) re-run on synthetic data",
           '',
           f"**Data: synthetic THUMOS-like demo set of `co2net.synthetic` ({meta['data']}), not THUMOS14.** "
           f"Each row: `co2net.train.train` with the variant's config fields, {meta['iters']} training iterations, learning rate {meta['lr']:g}, "
           f"selection 'last', other settings of the `demo` preset; "
           f"the last model is evaluated on the synthetic test split ({meta['n_test']} videos, 'co2net' protocol, no model selection). "
           f"mAP in %, mean ± sample std over {n_seeds} seeds ({' '.join(map(str, meta['seeds']))}). "
           f"The last column is **the paper's THUMOS14 number** (AVG mAP 0.1:0.7, copied from the paper), not a co2net measurement.",
           '', f"Command: `{meta['command']}` ({meta['wall_minutes']:.1f} min on {meta['machine']}). "
           f"Synthetic data SHA-256 (`bench/ablations.py:data_digest`): `{meta.get('data_sha256', '?')[:16]}...`", '']
    for t in tables:
        out += [f"## {TABLES[t]['title']}", '',
                '| row | synthetic AVG mAP 0.1:0.7 | synthetic mAP@0.5 | paper (THUMOS14) AVG mAP 0.1:0.7 |', '|---|---|---|---|']
        for r in [r for r in rows if r['table'] == t]:
            syn = f"{r['avg_mean']:.1f} ± {r['avg_std']:.1f}" if r['seeds'] else 'not run'
            s5 = f"{r['map05_mean']:.1f} ± {r['map05_std']:.1f}" if r['seeds'] else ''
            out.append(f"| {r['row']} | {syn} | {s5} | {r['paper_thumos14_avg']} |")
        if t in PAPER_DETAIL: out += ['', PAPER_DETAIL[t] + '.']
        out.append('')
    return '\n'.join(out)

def plot_figure5(ds, models: dict, names: dict, path, video_index=None, top_k: int = 4):
    "Paper Figure 5 style: ground truth and the detections of each model on one synthetic test video; saved as a small PNG."
    from co2net.viz import video_outputs, plot_comparison
    from co2net.localize import localize_videos
    from co2net.data import ground_truth
    if video_index is None:      # a test video with >= 2 segments and the most background between them
        def background(i):
            seg = np.asarray(ds.ann.segments[i], dtype=np.float64).reshape(-1, 2)
            return (len(seg) >= 2, 1 - (seg[:, 1] - seg[:, 0]).sum() / max(float(ds.ann.duration[i]), 1e-9), -i)
        video_index = int(max(ds.test_idx, key=background))
    name = str(ds.names[video_index])
    rows = {}
    for key, label in names.items():
        o = video_outputs(models[key], ds.features(video_index))
        rows[label] = {'attn': o['attn'], 'dets': localize_videos([(name, o['cas'], o['attn'])])}
    fig = plot_comparison(rows, ground_truth(ds.ann, [video_index]), video=name, class_names=list(ds.classes), top_k=top_k,
                          title=f'{name} of the SYNTHETIC demo set (not THUMOS14): top {top_k} detections per class, seed-0 models')
    fig.savefig(path, dpi=70)
    return path

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--iters', type=int, default=800)
    ap.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    ap.add_argument('--lr', type=float, default=3e-3)
    ap.add_argument('--tables', type=int, nargs='+', default=[3, 4, 5, 6], choices=[3, 4, 5, 6])
    ap.add_argument('--n-videos', type=int, default=200, help='videos in the synthetic set (half train, half test)')
    ap.add_argument('--workers', type=int, default=1, help='parallel processes (one torch thread each)')
    ap.add_argument('--out', default=str(ROOT/'bench'/'results'))
    ap.add_argument('--no-figure', action='store_true')
    args = ap.parse_args(argv)
    if len(args.seeds) < 3: print('warning: fewer than 3 seeds; mean ± std is not meaningful', file=sys.stderr)
    torch.set_num_threads(1)
    t0 = time.time()
    out = Path(args.out); out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        ds = make_data(tmp, n_videos=args.n_videos)
        fig_variants = {variant_key(v): name.split(' (')[0] for name, v, _ in TABLES[6]['rows'] if v is not None}
        results, models = run_tables(ds, args.tables, args.seeds, args.iters, args.lr, args.workers, data_root=tmp,
                                     keep_models_for=[json.loads(k) for k in fig_variants] if 6 in args.tables and not args.no_figure else ())
        if models: plot_figure5(ds, models, {k: fig_variants[k] for k in fig_variants if k in models}, out/'figure5_synthetic.png')
        rows = table_rows(results, args.tables)
        wall = (time.time() - t0) / 60
        meta = {'data': f'{len(ds)} videos, {len(ds.train_idx)} train / {len(ds.test_idx)} test, {ds.n_classes} classes, '
                        f'{ds.feature_dim // 2} channels per modality',
                'iters': args.iters, 'lr': args.lr, 'seeds': args.seeds, 'n_test': len(ds.test_idx),
                'command': 'python bench/ablations.py ' + ' '.join(sys.argv[1:] if argv is None else argv),
                'wall_minutes': wall, 'machine': f'CPU, {args.workers} process(es) x 1 torch thread',
                'data_sha256': data_digest(tmp), 'n_videos': args.n_videos}
    write_csv(rows, out/'ablations.csv')
    md = markdown(rows, meta, args.tables)
    (out/'ablations.md').write_text(md + '\n')
    (out/'ablations_runs.json').write_text(json.dumps({'meta': meta, 'runs': results}, indent=0) + '\n')
    print(md)
    print(f'wrote {out}/ablations.csv, ablations.md, ablations_runs.json in {wall:.1f} min')

if __name__ == '__main__': main()
