"""CO2-Net, DELU and DDG-Net compared on SYNTHETIC data: one `co2net.sweep` over method x seeds, honest selection.

Usage (from the repository root):
  python bench/methods_compare.py [--seeds 0 1 2 3 4] [--data demo distractors] [--distractor-strength 1]
                                  [--evidence-scale 0.6] [--runs runs/methods_compare] [--out bench/results]
                                  [--backend auto|local|ray] [--ray-cpus N] [--jobs N]

Every run is the `demo` preset of co2net (synthetic demo data of co2net.synthetic: 200 videos, 100 train / 100
test, 20 classes, D = 32 channels per modality; Adam, learning rate 3e-3, 600 iterations, batches of 10 videos
with 3 same-class pairs, T = 100 snippets per training video, one torch thread, evaluation every 50 iterations on
the validation split, checkpoint chosen on it: selection='validation') with the network and loss weights of one
method, taken from its published THUMOS14 preset (bench/make_demo_model.py `demo_method_fields`):
  co2net  the demo preset as it is (alpha1..alpha4 = 0.8, 0.8, 1, 1)
  delu    method=delu, alpha2=0.4, alpha_edl=1.3 (alpha_uct 0.4, amplitude 0.7, edl_ratio 9: the defaults)
  ddgnet  method=ddgnet, the same plus alpha5=3.2 (alpha6 1)
The published learning rate, sequence length (320) and iteration count (5000) are for I3D THUMOS14 features; on
the small synthetic data all three methods share the demo's. DELU's easy-to-hard curve is a function of
iteration / max_iter, so with max_iter = 600 it sweeps its whole range (rising, flat at 300, falling) within
the run, as in a 5000-iteration run; nothing else depends on the run length.

Two data sets:
  demo         the synthetic demo data as the running example uses it;
  distractors  the data of the controlled experiment of chapter 09 / bench/ablations.py (`co2net sweep` knobs
               synthetic.evidence_scale = 0.6, the calibrated difficulty, and synthetic.distractor_strength = 1:
               modality-specific distractor episodes as strong as an action).
Within a data set, the same seed means the same data, the same initial random state and the same batches for
every method (the batch sampler and the snippet sampling are seeded by the run's seed alone), so the
differences delu - co2net and ddgnet - co2net are taken seed by seed.

Writes {out}/methods_compare.json (every run's metrics, the summary, the paired differences, command, machine,
wall time) and {out}/methods_compare.md (the tables). The sweep folder {runs} keeps every run; running the
command again skips finished runs and resumes interrupted ones. The same sweep from the command line:
  co2net sweep --preset demo --points {runs}/points.json --seeds 0 1 2 3 4 --out {runs} --override device=cpu
Every number is measured on synthetic data, never on THUMOS14.
"""
from __future__ import annotations
import argparse, json, math, os, platform, shlex, sys, time
from pathlib import Path
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_demo_model import demo_method_fields, NAMES
import co2net.sweep as sweep
from co2net.sweep import run_sweep, mean_std, field_value, run_one, failure_record
from co2net.config import Config

METHODS = ('co2net', 'delu', 'ddgnet')
HEADLINE = 'AVG mAP@0.1:0.7'
THRESHOLDS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)

DATA_KNOBS = ('synthetic.evidence_scale', 'synthetic.distractor_strength')

def data_fields(name: str, args) -> dict:
    "The synthetic-data fields of a data set (none for the plain demo data)."
    if name == 'demo': return {}
    if name == 'distractors': return {'synthetic.evidence_scale': args.evidence_scale,
                                      'synthetic.distractor_strength': args.distractor_strength}
    raise ValueError(f'unknown data set {name!r}; choose demo or distractors')

def points(args, data) -> list[dict]:
    "One sweep point per data set and method: the method's fields plus the data set's fields."
    return [{'method': m, **demo_method_fields(m), **data_fields(d, args)} for d in data for m in METHODS]

def records_of(res, args, d: str) -> dict:
    "{method: {seed: record}} of the finished runs of data set `d`'s sweep (checked: every run is on that data)."
    out = {m: {} for m in METHODS}
    want = {k: data_fields(d, args).get(k) for k in DATA_KNOBS}
    for s in res.runs:
        cfg, rec = Config.from_dict(s.config), res.records.get(s.name) or {}
        knobs = {k: cfg.synthetic.get(k.split('.', 1)[1]) for k in DATA_KNOBS}
        if knobs != want: raise ValueError(f'run {s.name} of the {d!r} sweep has data knobs {knobs}, expected {want}')
        if rec.get('status') == 'done': out[cfg.method][s.seed] = rec
    return out

T_975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228}

def t_interval(diffs) -> tuple[float, float]:
    "95 % interval of the mean of paired differences: mean ± t(0.975, n-1) s / sqrt(n) (normal quantile beyond 11 seeds)."
    m, s = mean_std(diffs)
    n = len(diffs)
    if n < 2: return math.nan, math.nan
    t = T_975.get(n - 1, 1.96)
    return m - t * s / math.sqrt(n), m + t * s / math.sqrt(n)

def summarize(recs: dict, args) -> dict:
    "Per data set: per method mean ± sample std (headline and per threshold) and the paired differences against co2net."
    summary = {}
    for d, by_method in recs.items():
        rows = {}
        for m in METHODS:
            seeds = sorted(by_method[m])
            vals = [by_method[m][s]['metrics'][HEADLINE] for s in seeds]
            mean, std = mean_std(vals)
            per_t = {f'{t:g}': mean_std([by_method[m][s]['metrics'][f'mAP@{t:g}'] for s in seeds]) for t in THRESHOLDS}
            secs = [by_method[m][s].get('seconds', math.nan) for s in seeds]
            rows[m] = {'seeds': seeds, 'values': vals, 'mean': mean, 'std': std,
                       'per_threshold': {t: {'mean': a, 'std': b} for t, (a, b) in per_t.items()},
                       'run_seconds': secs, 'mean_run_seconds': float(np.mean(secs)) if secs else math.nan}
        paired = {}
        for m in METHODS[1:]:
            common = sorted(set(by_method[m]) & set(by_method['co2net']))
            diffs = [by_method[m][s]['metrics'][HEADLINE] - by_method['co2net'][s]['metrics'][HEADLINE] for s in common]
            mean, std = mean_std(diffs)
            lo, hi = t_interval(diffs)
            spread = max(rows[m]['std'], rows['co2net']['std'])
            paired[m] = {'seeds': common, 'diffs': diffs, 'mean': mean, 'std': std, 'ci95': [lo, hi],
                         'higher': sum(x > 0 for x in diffs), 'n': len(diffs),
                         'within_seed_spread': bool(abs(rows[m]['mean'] - rows['co2net']['mean']) <= spread),
                         'interval_contains_0': bool(lo <= 0 <= hi) if not math.isnan(lo) else True}
        summary[d] = {'methods': rows, 'paired': paired,
                      'data': sorted({r['data'] for m in METHODS for r in by_method[m].values()}),
                      'data_digest': sorted({r.get('data_digest', '?') for m in METHODS for r in by_method[m].values()})}
    return summary

def verdict(p: dict, m: str) -> str:
    "One plain sentence on a paired difference."
    name, sign = NAMES[m], ('above' if p['mean'] > 0 else 'below')
    if p['n'] < 2: return f'{name}: fewer than 2 paired seeds, no reading.'
    s = (f"{name} is {abs(p['mean']):.1f} points {sign} CO2-Net on average (higher in {p['higher']} of {p['n']} seeds; "
         f"95 % interval of the paired mean {p['ci95'][0]:+.1f} to {p['ci95'][1]:+.1f})")
    if p['within_seed_spread'] and p['interval_contains_0']:
        return s + ': within the seed spread, no difference can be claimed.'
    if p['interval_contains_0']:
        return s + ': the interval contains 0, no difference can be claimed.'
    if p['within_seed_spread']:
        return s + ': the paired interval excludes 0, but the gap is within the seed-to-seed spread of either method.'
    return s + ': the paired interval excludes 0 and the gap exceeds the seed spread.'

DATA_TITLES = {'demo': 'synthetic demo data (the running example)',
               'distractors': 'synthetic distractor data (chapter 09)'}

def markdown(summary: dict, meta: dict) -> str:
    out = ['# CO2-Net, DELU and DDG-Net on synthetic data', '',
           '**Data: synthetic (co2net.synthetic), not THUMOS14.** Test split of each data set, checkpoint chosen on the '
           "validation split (selection='validation'), the same test pipeline for every method ('co2net' protocol); "
           'AVG mAP@0.1:0.7 in %, mean ± sample std over the seeds.', '',
           f"Settings: the `demo` preset for all three methods (learning rate 3e-3, 600 iterations, T = 100, batch 10, "
           f"evaluation every 50 iterations), with each method's published THUMOS14 loss weights: "
           + '; '.join(f"{NAMES[m]} {', '.join(f'`{k}={v}`' for k, v in demo_method_fields(m).items() if k != 'method') or 'as the preset'}"
                       for m in METHODS)
           + '. The published learning rates, lengths and iteration counts are for I3D THUMOS14 features, not used here.'
           + (f" **Changed for this run: {', '.join(f'`{o}`' for o in meta['overrides'])}.**" if meta['overrides'] else ''), '',
           f"Command: `{meta['command']}` ({meta['n_runs']} runs, {meta['n_failed']} failed; {meta['span_minutes']:.0f} min from the "
           f"start of the first run to the end of the last, {meta['run_minutes']:.0f} min of training summed over the runs; "
           f"{meta['machine']}). {meta['invocation']} The same sweeps from the command line (after this command has "
           f"written the points files): " + '; '.join(f'`{c}`' for c in meta['sweep_commands'].values()) + '.', '']
    for d, s in summary.items():
        seeds = sorted({x for r in s['methods'].values() for x in r['seeds']})
        out += [f"## {DATA_TITLES.get(d, d)}: {len(seeds)} seeds ({' '.join(map(str, seeds))})", '', f"Data: {'; '.join(s['data'])}. Content digest "
                f"(`co2net.train.dataset_digest`): `{', '.join(x[:16] + '...' for x in s['data_digest'])}`", '',
                '| method | AVG mAP@0.1:0.7 | ' + ' | '.join(f'mAP@{t:g}' for t in THRESHOLDS) + ' | per seed | s per run |',
                '|---|---|' + '---|' * len(THRESHOLDS) + '---|---|']
        for m, r in s['methods'].items():
            pt = ' | '.join(f"{r['per_threshold'][f'{t:g}']['mean']:.1f} ± {r['per_threshold'][f'{t:g}']['std']:.1f}" for t in THRESHOLDS)
            out.append(f"| {NAMES[m]} | **{r['mean']:.2f} ± {r['std']:.2f}** | {pt} | "
                       f"{' '.join(f'{v:.1f}' for v in r['values'])} | {r['mean_run_seconds']:.0f} |")
        out += ['', '| paired by seed | mean ± sample std (points) | per seed | higher | 95 % interval |', '|---|---|---|---|---|']
        for m, p in s['paired'].items():
            out.append(f"| {NAMES[m]} − CO2-Net | {p['mean']:+.2f} ± {p['std']:.2f} | {' '.join(f'{x:+.1f}' for x in p['diffs'])} | "
                       f"{p['higher']}/{p['n']} | {p['ci95'][0]:+.1f} to {p['ci95'][1]:+.1f} |")
        out += [''] + [f'- {verdict(p, m)}' for m, p in s['paired'].items()] + ['']
    out += ['Seeds: the seed of a run sets its initial weights, dropout draws, batch order and snippet sampling; the data '
            'of a data set is the same for every seed. "Within the seed spread": the gap between the two means is at most '
            'the larger sample std of the two methods. The 95 % interval is the Student t interval of the mean paired '
            'difference (t = 2.776 for 5 seeds).', '']
    return '\n'.join(out)

def machine_text() -> str:
    load = os.getloadavg()[0] if hasattr(os, 'getloadavg') else math.nan
    return (f"{platform.processor() or platform.machine()} CPU, {os.cpu_count()} cores shared with other work "
            f"(load average {load:.1f} when this invocation started), one torch thread per run")

def shown(path) -> str:
    "A path as the results record it: relative to the repository root when inside it (no machine-specific prefix)."
    path = Path(path).resolve()
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)

def local_pool(jobs: int):
    """A drop-in for `co2net.sweep.run_local` that runs `jobs` runs at a time in fresh worker processes (for machines
    where Ray does not start); every run is the same `run_one` call as in the local backend."""
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from dataclasses import asdict
    import multiprocessing
    def run(todo, on_done):
        with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context('spawn')) as ex:
            futures = {ex.submit(run_one, asdict(s)): s for s in todo}
            for f in as_completed(futures):
                try: rec = f.result()
                except Exception as e: rec = failure_record(futures[f], e)    # the worker died
                on_done(futures[f], rec)
    return run

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2, 3, 4])
    ap.add_argument('--distractor-seeds', type=int, nargs='+', default=None, help='seeds of the distractor data (default: --seeds)')
    ap.add_argument('--data', nargs='+', default=['demo', 'distractors'], choices=['demo', 'distractors'])
    ap.add_argument('--evidence-scale', type=float, default=0.6, help='distractors: synthetic.evidence_scale (chapter 09: 0.6)')
    ap.add_argument('--distractor-strength', type=float, default=1.0, help='distractors: synthetic.distractor_strength')
    ap.add_argument('--runs', default=str(ROOT/'runs'/'methods_compare'), help='sweep folder (every run)')
    ap.add_argument('--out', default=str(ROOT/'bench'/'results'), help='folder for methods_compare.{json,md}')
    ap.add_argument('--backend', default='auto', choices=['auto', 'local', 'ray'])
    ap.add_argument('--ray-cpus', type=int, default=0, help='CPUs of a local Ray (0: all of this machine)')
    ap.add_argument('--jobs', type=int, default=1, help='backend local: runs at a time, each in its own process (default 1)')
    ap.add_argument('--override', nargs='+', default=[], help='fields of every run as key=value (a quick check: '
                    'max_iter=20 synthetic.n_videos=40); the committed table uses none')
    args = ap.parse_args(argv)
    argv = sys.argv[1:] if argv is None else argv
    runs, out = Path(args.runs), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.jobs > 1:
        if args.backend != 'local': sys.exit('methods_compare: --jobs needs --backend local')
        sweep.run_local = local_pool(args.jobs)
    machine, t0, results = machine_text(), time.time(), {}
    for d in args.data:              # one sweep folder per data set (each can be resumed or extended on its own)
        seeds = args.distractor_seeds if d == 'distractors' and args.distractor_seeds else args.seeds
        pts = points(args, [d])
        results[d] = run_sweep('demo', None, seeds, runs/d, points=pts, overrides=['device=cpu', *args.override],
                               backend=args.backend, ray_cpus=args.ray_cpus, title=f'CO2-Net, DELU and DDG-Net: {DATA_TITLES[d]}')
        (runs/d/'points.json').write_text(json.dumps(pts, indent=1) + '\n')     # for the `co2net sweep` form of the command
    wall = time.time() - t0
    recs = {d: records_of(res, args, d) for d, res in results.items()}
    summary = summarize(recs, args)
    all_records = [r for res in results.values() for r in res.records.values()]
    done = [r for r in all_records if r.get('status') == 'done']
    meta = {'command': shlex.join(['python', 'bench/methods_compare.py', *argv]),
            'sweep_commands': {d: f"co2net sweep --preset demo --points {shown(runs/d/'points.json')} --seeds "
                                  f"{' '.join(map(str, sorted({r.seed for r in res.runs})))} --out {shown(runs/d)} --override {' '.join(['device=cpu', *args.override])}"
                               for d, res in results.items()},
            'seeds': {d: sorted({r.seed for r in res.runs}) for d, res in results.items()},
            'n_runs': sum(len(res.runs) for res in results.values()), 'n_failed': sum(r.get('status') != 'done' for r in all_records),
            'wall_minutes': wall / 60, 'run_minutes': sum(r.get('seconds', 0) for r in done) / 60,
            'span_minutes': (max(r['started'] + r['seconds'] for r in done) - min(r['started'] for r in done)) / 60 if done else 0.,
            'counts': {k: sum(res.counts[k] for res in results.values()) for k in ('new', 'skipped', 'failed')},
            'machine': machine + f", backend {args.backend}" + (f', {args.jobs} runs at a time' if args.jobs > 1 else ''),
            'points': {d: points(args, [d]) for d in results}, 'overrides': args.override,
            'note': 'synthetic data, not THUMOS14'}
    runs_json = {f'{d}/{s.name}': {k: (res.records.get(s.name) or {}).get(k) for k in ('seed', 'point', 'status', 'metrics', 'data',
                                                                                    'data_digest', 'seconds', 'error')}
                 for d, res in results.items() for s in res.runs}
    (out/'methods_compare.json').write_text(json.dumps({'meta': meta, 'summary': summary, 'runs': runs_json}, indent=1) + '\n')
    c = meta['counts']
    meta['invocation'] = (f"This invocation trained {c['new']} runs and reused {c['skipped']} finished ones (the sweep folders "
                          f"resume), in {meta['wall_minutes']:.0f} min.")
    md = markdown(summary, meta)
    failed = [(f'{d}/{s.name}', (res.records.get(s.name) or {}).get('error')) for d, res in results.items() for s in res.runs
              if (res.records.get(s.name) or {}).get('status') != 'done']
    if failed: md += '\n## Failed runs\n\n' + '\n'.join(f'- `{n}`: {e}' for n, e in failed) + '\n'
    (out/'methods_compare.md').write_text(md)
    print(md)
    print(f"wrote {out/'methods_compare.md'} and {out/'methods_compare.json'}")
    return 0 if meta['n_failed'] == 0 else 1

if __name__ == '__main__':
    sys.exit(main())
