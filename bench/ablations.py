"""The CO2-Net paper's ablation tables 3-6, and a controlled experiment on what the CCM is for, re-run on
synthetic THUMOS-like data as sweeps of `co2net.sweep` (every row: `co2net.train.train`, several seeds).

Usage:
  python bench/ablations.py tables      [--iters 800] [--seeds 0 1 2]
  python bench/ablations.py calibrate   [--iters 800] [--seeds 0 1 2] [--levels 1 0.7 0.5 0.35 0.25]
  python bench/ablations.py distractors [--iters 800] [--seeds 0 1 2 3 4] [--levels 0 0.5 1 2] [--evidence-scale K]
Common options: --lr 3e-3, --out bench/results (tables, CSV, figures), --runs runs/ablations (the sweep
folders; running a command again skips finished runs and resumes interrupted ones), --backend
auto|local|ray, --ray-cpus N (CPUs of a local Ray), --n-videos 200.

Every run is the 'demo' preset of co2net.train (synthetic demo set of co2net.synthetic, seed 0: 200
videos, 100 train / 100 test, 20 classes, 32 channels per modality; Adam, batches of 10 videos with 3
same-class pairs, 100 snippets per video, one torch thread) with learning rate --lr, --iters
iterations, selection 'last' (every training video trains, nothing is evaluated during training,
a checkpoint every 200 iterations) and the row's model/loss fields. The last model is scored once on
the synthetic test split with the 'co2net' protocol: no model selection, no peeking at the test set.

  tables       the rows of the paper's Tables 3-6 (14 distinct variants; the full CO2-Net is one run
               shared by the four tables) -> ablations.md, ablations.csv, ablations_runs.json,
               figure5_synthetic.png. The same sweep from the command line:
                 co2net sweep --preset demo --points <the 14 variants as JSON> --seeds 0 1 2 --out runs/ablations/tables \
                   --override lr=3e-3 max_iter=800 eval_interval=200 selection=last device=cpu
  calibrate    the MIL-only model (Table 3, Exp 1) without distractors at several evidence scales
               (synthetic.evidence_scale); the level whose mean AVG mAP is closest to the paper's
               38.1 % (THUMOS14, Exp 1) is kept -> calibration.md, calibration.csv, calibration.json
  distractors  fusion (ccm, concat, se, add) x distractor strength (synthetic.distractor_strength) x
               seeds at the calibrated evidence scale, the full objective -> distractors.md,
               distractors.csv, distractors_runs.json, distractors.png (mAP against strength per fusion)

Every number is on SYNTHETIC data; the paper's THUMOS14 numbers appear only in their own labelled column.
"""
from __future__ import annotations
import argparse, csv, json, math, shlex, shutil, sys, tempfile, time
from pathlib import Path
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
from co2net.losses import LOSS_TERMS as ALL_TERMS   # ('mil_orig', 'mil_supp', 'coactivity', 'mutual', 'norm', 'guide')
from co2net.sweep import run_sweep, mean_std, field_value, plot_sweep, headline_metric
MIL = ('mil_orig', 'mil_supp')
FULL = dict(loss_terms=ALL_TERMS, mutual_metric='mse', fusion='ccm', main_context='global', aux_context='local')
HEADLINE = 'AVG mAP@0.1:0.7'
PAPER_EXP1 = 38.1   # THUMOS14, AVG mAP 0.1:0.7 of the paper's Table 3, Exp 1 (MIL only)
FUSIONS = ('ccm', 'concat', 'se', 'add')

def variant(**kw) -> dict:
    "A full CO2-Net variant: the config fields of FULL with `kw` changed."
    unknown = set(kw) - set(FULL)
    if unknown: raise ValueError(f'unknown variant keys {sorted(unknown)}; valid: {sorted(FULL)}')
    v = {**FULL, **kw}
    v['loss_terms'] = tuple(t for t in ALL_TERMS if t in set(v['loss_terms']))
    return v

def variant_key(v: dict) -> str:
    "A stable text key of a variant (rows with the same key are the same run)."
    return json.dumps({k: list(v[k]) if k == 'loss_terms' else v[k] for k in sorted(v)}, sort_keys=True)

# Paper numbers: THUMOS14, AVG mAP over tIoU 0.1:0.7 (%), as printed in the paper's tables (section 4.4).
# Table 3: the column headers (which loss each check mark stands for) are lost in our text copy; the rows
# are readable as "Exp k, n check marks, AVG". Exp 1 = MIL only and Exp 6 = all terms are stated in the text.
TABLES = {
    3: dict(title='Table 3: loss components', rows=[
        ('MIL only (mil_orig + mil_supp)', variant(loss_terms=MIL), '38.1 (Exp 1: MIL only)'),
        ('MIL + co-activity', variant(loss_terms=MIL + ('coactivity',)), '40.0 (Exp 2: 2 terms, which ones unreadable)'),
        ('MIL + co-activity + norm', variant(loss_terms=MIL + ('coactivity', 'norm')), '41.4 (Exp 3: 3 terms, which ones unreadable)'),
        ('all but mutual learning', variant(loss_terms=MIL + ('coactivity', 'norm', 'guide')), '42.8 (Exp 4: 4 terms, which ones unreadable)'),
        ('all but co-activity', variant(loss_terms=MIL + ('mutual', 'norm', 'guide')), '42.6 (Exp 5: 4 terms, which ones unreadable)'),
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
# Per-threshold paper numbers that are readable (THUMOS14, %), for reference in the markdown. The markdown never writes
# "mAP@0.5": renderers with GitHub-style autolinks turn "x@0.5" into an e-mail link.
PAPER_DETAIL = {
    4: 'paper Table 4, mAP at tIoU 0.1 ... 0.7: MAE 69.2 63.0 53.8 45.2 38.6 26.2 13.9; KL 67.7 62.2 53.9 44.8 37.3 25.7 14.7; '
       'JS 69.2 63.3 54.5 46.0 38.3 26.5 14.1; MSE 70.1 63.6 54.5 45.7 38.3 26.4 13.4',
    5: 'paper Table 5, mAP at tIoU 0.1 / 0.3 / 0.5 / 0.7: Local-Local 68.1 52.6 36.3 13.2; Local-Global 70.0 54.1 37.5 12.3; '
       'Global-Local 70.1 54.5 38.3 13.4',
}

def table_points(tables=(3, 4, 5, 6)) -> list[dict]:
    "The distinct variants of `tables`, in table order: the sweep's grid points."
    seen = {}
    for t in tables:
        for _, v, _ in TABLES[t]['rows']:
            if v is not None: seen.setdefault(variant_key(v), v)
    return list(seen.values())

def base_overrides(iters: int = 800, lr: float = 3e-3, n_videos: int = 200, **synthetic) -> dict:
    "Fields every bench run changes in the 'demo' preset (plus arguments of the synthetic data generator)."
    syn = {**({'n_videos': n_videos} if n_videos != 200 else {}), **synthetic}
    return {'lr': lr, 'max_iter': iters, 'eval_interval': min(200, iters), 'selection': 'last', 'device': 'cpu',
            **{f'synthetic.{k}': v for k, v in syn.items()}}

def runs_of(result, fields: dict) -> list[dict]:
    "The finished records of `result` whose config has every field of `fields`, sorted by seed."
    want = {k: json.loads(json.dumps(v, default=list)) for k, v in fields.items()}
    from co2net.train import Config
    out = []
    for s in result.runs:
        cfg = Config.from_dict(s.config)
        rec = result.records.get(s.name) or {}
        if rec.get('status') == 'done' and all(field_value(cfg, k) == v for k, v in want.items()): out.append(rec)
    return sorted(out, key=lambda r: r['seed'])

def _per_seed(recs, metric=HEADLINE): return [r['metrics'][metric] for r in recs]

def sweep_meta(result, args, command: str, wall: float) -> dict:
    recs = [r for r in result.records.values() if r.get('status') == 'done']
    return {'command': command, 'iters': args.iters, 'lr': args.lr, 'seeds': args.seeds, 'n_videos': args.n_videos,
            'wall_minutes': round(wall / 60, 2), 'run_minutes': round(sum(r.get('seconds', 0) for r in recs) / 60, 1),
            'sweep_folder': str(result.out), 'sweep_line': result.line, 'n_runs': len(result.runs),
            'n_failed': sum(r.get('status') != 'done' for r in result.records.values()),
            'machine': f'CPU, backend {args.backend}, one torch thread per run',
            'data': sorted({r['data'] for r in recs}), 'data_digest': sorted({r.get('data_digest', '?') for r in recs})}

def _runs_json(result) -> dict:
    "Per run: seed, grid point, metrics, data and its digest (the committed evidence behind every table)."
    return {s.name: {k: (result.records.get(s.name) or {}).get(k) for k in ('seed', 'point', 'status', 'metrics', 'data',
                                                                           'data_digest', 'seconds', 'error')}
            for s in result.runs}

def _data_text(labels) -> str:
    "The data labels of the runs, once: the common label, and that the generator arguments vary per grid point."
    common = {l.split(' [generator arguments')[0] for l in labels}
    if len(common) == 1 and len(labels) > 1: return f'{common.pop()}, generator arguments of each grid point as listed'
    return '; '.join(labels)

def _header(meta: dict, what: str) -> list[str]:
    return [f"**Data: {_data_text(meta['data'])}.** {what} Each run: `co2net.train.train`, {meta['iters']} "
            f"iterations, learning rate {meta['lr']:g}, selection 'last' (the last model, no model selection), other settings "
            f"of the `demo` preset; evaluated once on the synthetic test split ('co2net' protocol). mAP in %, mean ± sample std "
            f"over {len(meta['seeds'])} seeds ({' '.join(map(str, meta['seeds']))}).", '',
            f"Command: `{meta['command']}` ({meta['n_runs']} runs, {meta['n_failed']} failed; {meta['run_minutes']:.0f} min of "
            f"training in all, summed over the runs; {meta['machine']}; a 2-core CPU shared with other work). "
            f"Synthetic data content digest (`co2net.train.dataset_digest`): "
            f"`{', '.join(d[:16] + '...' for d in meta['data_digest'])}`", '']

# ---------------------------------------------------------------- tables
def table_rows(result, tables=(3, 4, 5, 6)) -> list[dict]:
    "One dict per table row: table, row, variant key, per-seed AVG, mean, std, mAP@0.5 mean/std, paper number."
    rows = []
    for t in tables:
        for name, v, paper in TABLES[t]['rows']:
            r = runs_of(result, v) if v is not None else []
            avg, m5 = _per_seed(r), _per_seed(r, 'mAP@0.5')
            rows.append({'table': t, 'row': name, 'variant': variant_key(v) if v is not None else '',
                         'seeds': [x['seed'] for x in r], 'avg_per_seed': avg,
                         'avg_mean': mean_std(avg)[0], 'avg_std': mean_std(avg)[1],
                         'map05_mean': mean_std(m5)[0], 'map05_std': mean_std(m5)[1], 'paper_thumos14_avg': paper})
    return rows

def write_table_csv(rows, path):
    f2 = lambda x: '' if math.isnan(x) else f'{x:.2f}'
    with open(path, 'w', newline='') as f:
        w = csv.writer(f)
        w.writerow(['table', 'row', 'data', 'seeds', 'synthetic_avg_mAP_0.1:0.7_per_seed', 'synthetic_avg_mean', 'synthetic_avg_std',
                    'synthetic_mAP@0.5_mean', 'synthetic_mAP@0.5_std', 'paper_THUMOS14_avg_mAP_0.1:0.7', 'variant'])
        for r in rows:
            w.writerow([r['table'], r['row'], 'synthetic (co2net.synthetic demo set), NOT THUMOS14' if r['seeds'] else 'not run',
                        ' '.join(map(str, r['seeds'])), ' '.join(f'{x:.2f}' for x in r['avg_per_seed']),
                        f2(r['avg_mean']), f2(r['avg_std']), f2(r['map05_mean']), f2(r['map05_std']), r['paper_thumos14_avg'], r['variant']])

def tables_markdown(rows, meta: dict, tables=(3, 4, 5, 6)) -> str:
    "The tables as markdown: synthetic mean ± std next to the paper's THUMOS14 number (a separate, labelled column)."
    out = ['# Ablations (paper Tables 3-6) re-run on synthetic data', '',
           *_header(meta, 'Each row is a grid point of one sweep (`co2net.sweep`); the full CO2-Net is one run shared by the four tables. '
                          'The last column is **the paper\'s THUMOS14 number** (AVG mAP 0.1:0.7, copied from the paper), not a co2net measurement.')]
    for t in tables:
        out += [f"## {TABLES[t]['title']}", '',
                '| row | synthetic AVG mAP 0.1:0.7 | synthetic mAP at tIoU 0.5 | paper (THUMOS14) AVG mAP 0.1:0.7 |', '|---|---|---|---|']
        for r in [r for r in rows if r['table'] == t]:
            syn = f"{r['avg_mean']:.1f} ± {r['avg_std']:.1f}" if r['seeds'] else 'not run'
            s5 = f"{r['map05_mean']:.1f} ± {r['map05_std']:.1f}" if r['seeds'] else ''
            out.append(f"| {r['row']} | {syn} | {s5} | {r['paper_thumos14_avg']} |")
        if t in PAPER_DETAIL: out += ['', PAPER_DETAIL[t] + '.']
        out.append('')
    return '\n'.join(out)

def load_run_model(run_dir):
    "(model, config) of a finished run folder, from its last.pt (on the CPU, in eval mode)."
    from co2net.cli import model_from_checkpoint
    model, cfg, _ = model_from_checkpoint(Path(run_dir)/'last.pt', device='cpu')
    return model, cfg

def plot_figure5(ds, models: dict, path, video_index=None, top_k: int = 4):
    "Paper Figure 5 style: ground truth and the detections of each model ({label: model}) on one synthetic test video."
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
    for label, model in models.items():
        o = video_outputs(model, ds.features(video_index))
        rows[label] = {'attn': o['attn'], 'dets': localize_videos([(name, o['cas'], o['attn'])])}
    gt = ground_truth(ds.ann, [video_index])
    fig = plot_comparison(rows, gt, video=name, class_names=list(ds.classes), top_k=top_k, figsize=(9, 0.95 * (len(rows) + 1) + 1.4),
                          title=f'{name} of the SYNTHETIC demo set (not THUMOS14)\ntop {top_k} detections per class of each seed-0 model')
    _readable_comparison(fig, gt, rows, name, list(ds.classes), top_k)
    fig.savefig(path, dpi=100)
    return path

def _readable_comparison(fig, gt, rows, video, class_names, top_k):
    "Labels a reader can read at notebook width, and a legend: the class of each colour, the attention line, the opacity."
    from matplotlib.patches import Patch
    from matplotlib.lines import Line2D
    from co2net.viz import select_detections
    for ax in fig.axes:
        ax.yaxis.label.set_fontsize(12); ax.xaxis.label.set_fontsize(12); ax.tick_params(labelsize=11)
    if fig.get_suptitle(): fig.suptitle(fig.get_suptitle(), fontsize=12)
    shown = {int(c) for c in np.asarray(gt['label'])[np.asarray(gt['video']) == video]}
    for r in rows.values(): shown |= {int(c) for c in select_detections(r['dets'], video, top_k)['label']}
    handles = [Patch(color=f'C{c % 10}', label=class_names[c]) for c in sorted(shown)]   # the colours plot_comparison uses
    handles += [Line2D([], [], color='k', lw=0.8, label='fused attention $a$'),
                Patch(facecolor='0.5', alpha=0.35, label='paler box = lower score')]
    fig.legend(handles=handles, loc='lower center', ncol=min(len(handles), 4), fontsize=11, frameon=False)
    legend_lines = -(-len(handles) // 4)
    fig.tight_layout(rect=(0, 0.4 * legend_lines / fig.get_figheight(), 1, 1))   # about 0.4 inch per legend line

def cmd_tables(args, log=print):
    t0 = time.time()
    res = run_sweep('demo', seeds=args.seeds, out=Path(args.runs)/'tables', points=table_points(args.tables),
                    overrides=base_overrides(args.iters, args.lr, args.n_videos), backend=args.backend, ray_cpus=args.ray_cpus,
                    title='Ablation variants (paper Tables 3-6) on synthetic data', log=log, allow_grid_change=args.allow_grid_change)
    rows = table_rows(res, args.tables)
    meta = sweep_meta(res, args, shlex.join(['python', 'bench/ablations.py', *args.argv]), time.time() - t0)
    out = Path(args.out); out.mkdir(parents=True, exist_ok=True)
    write_table_csv(rows, out/'ablations.csv')
    md = tables_markdown(rows, meta, args.tables)
    (out/'ablations.md').write_text(md + '\n')
    (out/'ablations_runs.json').write_text(json.dumps({'meta': meta, 'runs': _runs_json(res)}, indent=0) + '\n')
    if 6 in args.tables and not args.no_figure:
        from co2net.synthetic import make_demo_dataset, DEMO_NAME
        from co2net.data import load_dataset
        models = {}
        for name, v, _ in TABLES[6]['rows']:
            r = runs_of(res, v) if v is not None else []
            if r and r[0]['seed'] == args.seeds[0]: models[name.split(' (')[0]] = load_run_model(res.out/r[0]['name'])[0]
        with tempfile.TemporaryDirectory() as tmp:
            make_demo_dataset(tmp, seed=0, n_videos=args.n_videos)
            plot_figure5(load_dataset(tmp, DEMO_NAME, preset='thumos14'), models, out/'figure5_synthetic.png')
    print(md)
    return res, rows

# ---------------------------------------------------------------- calibration
def cmd_calibrate(args, log=print):
    t0 = time.time()
    res = run_sweep('demo', [f"synthetic.evidence_scale={','.join(map(str, args.levels))}"], args.seeds, Path(args.runs)/'calibration',
                    points=[variant(loss_terms=MIL)], overrides=base_overrides(args.iters, args.lr, args.n_videos),
                    backend=args.backend, ray_cpus=args.ray_cpus, title='Calibration of synthetic.evidence_scale (MIL only, CCM)', log=log,
                    allow_grid_change=args.allow_grid_change)
    meta = sweep_meta(res, args, shlex.join(['python', 'bench/ablations.py', *args.argv]), time.time() - t0)
    levels = []
    for k in args.levels:
        r = runs_of(res, {'synthetic.evidence_scale': k})
        m, s = mean_std(_per_seed(r))
        levels.append({'evidence_scale': k, 'seeds': [x['seed'] for x in r], 'values': _per_seed(r), 'mean': m, 'std': s})
    best = min((l for l in levels if not math.isnan(l['mean'])), key=lambda l: abs(l['mean'] - PAPER_EXP1))
    out = Path(args.out); out.mkdir(parents=True, exist_ok=True)
    md = ['# Calibrating the difficulty of the synthetic task', '',
          *_header(meta, f'MIL-only model (Table 3, Exp 1 of the paper: `loss_terms=mil_orig+mil_supp`, fusion `ccm`), no distractors, '
                         f'several values of `synthetic.evidence_scale`. The rule, fixed before the runs: keep the value whose mean AVG '
                         f'mAP 0.1:0.7 is closest to {PAPER_EXP1} % (the paper\'s Exp 1 on THUMOS14, a different data set).'),
          '| synthetic.evidence_scale | synthetic AVG mAP 0.1:0.7 | per seed |', '|---|---|---|']
    md += [f"| {l['evidence_scale']:g} | {l['mean']:.1f} ± {l['std']:.1f} | {' '.join(f'{v:.1f}' for v in l['values'])} |" for l in levels]
    if args.note: md += ['', args.note]
    md += ['', f"Chosen: `synthetic.evidence_scale={best['evidence_scale']:g}` ({best['mean']:.1f} ± {best['std']:.1f} % on synthetic data; "
               f"target {PAPER_EXP1} %, THUMOS14)."]
    (out/'calibration.md').write_text('\n'.join(md) + '\n')
    shutil.copy(res.out/'results.csv', out/'calibration.csv')
    (out/'calibration.json').write_text(json.dumps({'meta': meta, 'levels': levels, 'chosen_evidence_scale': best['evidence_scale'],
                                                    'target_thumos14_exp1': PAPER_EXP1, 'runs': _runs_json(res)}, indent=0) + '\n')
    print('\n'.join(md))
    return res, best['evidence_scale']

# ---------------------------------------------------------------- the distractor experiment
def paired_differences(res, levels, seeds, ref: str = 'ccm') -> list[dict]:
    "Per level and fusion f != ref: seed-by-seed differences AVG(ref) - AVG(f) (same data, same seed), mean ± sample std."
    out = []
    for lam in levels:
        a = {r['seed']: r['metrics'][HEADLINE] for r in runs_of(res, {'fusion': ref, 'synthetic.distractor_strength': lam})}
        for f in [f for f in FUSIONS if f != ref]:
            b = {r['seed']: r['metrics'][HEADLINE] for r in runs_of(res, {'fusion': f, 'synthetic.distractor_strength': lam})}
            d = [a[s] - b[s] for s in seeds if s in a and s in b]
            m, sd = mean_std(d)
            out.append({'distractor_strength': lam, 'other': f, 'diffs': d, 'mean': m, 'std': sd,
                        'wins': sum(x > 0 for x in d), 'n': len(d)})
    return out

def cmd_distractors(args, log=print):
    t0 = time.time()
    kappa = args.evidence_scale
    if kappa is None:
        cal = Path(args.out)/'calibration.json'
        if not cal.exists(): raise SystemExit(f'{cal} does not exist: run `python bench/ablations.py calibrate` first, or give --evidence-scale')
        kappa = json.loads(cal.read_text())['chosen_evidence_scale']
    res = run_sweep('demo', ['fusion=' + ','.join(FUSIONS), 'synthetic.distractor_strength=' + ','.join(map(str, args.levels))],
                    args.seeds, Path(args.runs)/'distractors', overrides=base_overrides(args.iters, args.lr, args.n_videos, evidence_scale=kappa),
                    backend=args.backend, ray_cpus=args.ray_cpus, title='Modality-specific distractors x fusion (synthetic data)', log=log,
                    allow_grid_change=args.allow_grid_change)
    meta = {**sweep_meta(res, args, shlex.join(['python', 'bench/ablations.py', *args.argv]), time.time() - t0), 'evidence_scale': kappa,
            'levels': args.levels}
    out = Path(args.out); out.mkdir(parents=True, exist_ok=True)
    table = []
    for f in FUSIONS:
        for lam in args.levels:
            r = runs_of(res, {'fusion': f, 'synthetic.distractor_strength': lam})
            m, s = mean_std(_per_seed(r)); m5, s5 = mean_std(_per_seed(r, 'mAP@0.5'))
            table.append({'fusion': f, 'distractor_strength': lam, 'seeds': [x['seed'] for x in r], 'values': _per_seed(r),
                          'mean': m, 'std': s, 'map05_mean': m5, 'map05_std': s5})
    diffs = paired_differences(res, args.levels, args.seeds)
    md = ['# Modality-specific distractors x fusion, on synthetic data', '',
          *_header(meta, f'Full CO2-Net objective, fusion `ccm` / `concat` / `se` / `add`, `synthetic.distractor_strength` '
                         f'(λ) {", ".join(map(str, args.levels))}, `synthetic.evidence_scale` κ = {kappa:g} (calibrated: calibration.md).'),
          *([args.note, ''] if args.note else []),
          '## AVG mAP 0.1:0.7 (%), mean ± sample std over seeds', '',
          '| fusion | ' + ' | '.join(f'λ = {l:g}' for l in args.levels) + ' |', '|---|' + '---|' * len(args.levels)]
    for f in FUSIONS:
        cells = [next(t for t in table if t['fusion'] == f and t['distractor_strength'] == l) for l in args.levels]
        md.append(f'| {f} | ' + ' | '.join(f"{c['mean']:.1f} ± {c['std']:.1f}" for c in cells) + ' |')
    md += ['', '## CCM minus each other fusion, paired by seed (same data, same seed), AVG mAP points', '',
           '| other fusion | ' + ' | '.join(f'λ = {l:g}' for l in args.levels) + ' |', '|---|' + '---|' * len(args.levels)]
    for f in [f for f in FUSIONS if f != 'ccm']:
        cells = [next(d for d in diffs if d['other'] == f and d['distractor_strength'] == l) for l in args.levels]
        md.append(f'| {f} | ' + ' | '.join(f"{c['mean']:+.1f} ± {c['std']:.1f} (CCM higher in {c['wins']}/{c['n']})" for c in cells) + ' |')
    md += ['', '## Per seed (AVG mAP 0.1:0.7, %)', '', '| fusion | λ | seeds | values |', '|---|---|---|---|']
    md += [f"| {t['fusion']} | {t['distractor_strength']:g} | {' '.join(map(str, t['seeds']))} | {' '.join(f'{v:.1f}' for v in t['values'])} |"
           for t in table]
    (out/'distractors.md').write_text('\n'.join(md) + '\n')
    shutil.copy(res.out/'results.csv', out/'distractors.csv')
    (out/'distractors_runs.json').write_text(json.dumps({'meta': meta, 'table': table, 'paired': diffs, 'runs': _runs_json(res)},
                                                        indent=0) + '\n')
    fig = plot_sweep(res.rows, metric=HEADLINE, x='synthetic.distractor_strength', hue='fusion',
                     title=f'SYNTHETIC data (not THUMOS14), κ = {kappa:g}: dots = seeds, bars = mean ± sample std')
    fig.savefig(out/'distractors.png', dpi=80)
    print('\n'.join(md))
    return res, table, diffs

def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('what', choices=['tables', 'calibrate', 'distractors'])
    ap.add_argument('--iters', type=int, default=800)
    ap.add_argument('--seeds', type=int, nargs='+', default=None, help='default: 0 1 2 (tables, calibrate), 0 1 2 3 4 (distractors)')
    ap.add_argument('--lr', type=float, default=3e-3)
    ap.add_argument('--tables', type=int, nargs='+', default=[3, 4, 5, 6], choices=[3, 4, 5, 6])
    ap.add_argument('--levels', type=float, nargs='+', default=None,
                    help='evidence scales (calibrate; default 1 0.7 0.5 0.35 0.25) or distractor strengths (distractors; default 0 0.5 1 2)')
    ap.add_argument('--evidence-scale', type=float, default=None, help='distractors: default the value in {out}/calibration.json')
    ap.add_argument('--n-videos', type=int, default=200, help='videos in the synthetic set (half train, half test)')
    ap.add_argument('--backend', default='local', choices=['auto', 'local', 'ray'])
    ap.add_argument('--ray-cpus', type=int, default=0, help='CPUs of the local Ray (backend ray; 0: all)')
    ap.add_argument('--out', default=str(ROOT/'bench'/'results'))
    ap.add_argument('--runs', default=str(ROOT/'runs'/'ablations'), help='parent of the sweep folders (run folders, checkpoints)')
    ap.add_argument('--no-figure', action='store_true')
    ap.add_argument('--allow-grid-change', action='store_true', help='run other levels or seeds in an existing sweep folder (co2net.sweep)')
    ap.add_argument('--note', default='', help='a sentence added to the markdown (e.g. how a calibration grid was chosen)')
    args = ap.parse_args(argv)
    args.argv = argv
    if args.seeds is None: args.seeds = [0, 1, 2, 3, 4] if args.what == 'distractors' else [0, 1, 2]
    if args.levels is None: args.levels = [0, 0.5, 1, 2] if args.what == 'distractors' else [1, 0.7, 0.5, 0.35, 0.25]
    args.levels = [int(l) if float(l).is_integer() else l for l in args.levels]   # 1, not 1.0: the grid value as written
    if len(args.seeds) < 3: print('warning: fewer than 3 seeds; mean ± std is not meaningful', file=sys.stderr)
    return {'tables': cmd_tables, 'calibrate': cmd_calibrate, 'distractors': cmd_distractors}[args.what](args)

if __name__ == '__main__': main()
