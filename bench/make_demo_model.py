"""Re-create the running example's model, data_samples/demo_model.pt, and print its test scores; with --method,
the small DELU or DDG-Net of chapter 13 (data_samples/demo_model_delu.pt, data_samples/demo_model_ddgnet.pt).

Usage (from the repository root):
  python bench/make_demo_model.py [--method co2net|delu|ddgnet] [--out FILE] [--overwrite]

It trains the `demo` preset exactly as `co2net demo` does (same config, seed 0, 1 CPU thread, the synthetic demo
set written to a folder and read back, checkpoint chosen on the validation split), in a temporary run folder,
then writes the chosen weights as a small co2net checkpoint (config, meta with the class names, iteration; no
optimizer, RNG or sampler state) and scores that file on the test split of the synthetic demo data (co2net
protocol). An existing file is kept unless --overwrite is given. About 15-30 s on an idle 2-core CPU (CO2-Net).

--method delu / ddgnet: the same `demo` preset (learning rate 3e-3, 600 iterations, T = 100, seed 0, validation
selection) with the method and the loss weights of its published THUMOS14 script (the `delu-thumos14` /
`ddgnet-thumos14` preset: alpha2 = 0.4, alpha_edl = 1.3, and for DDG-Net alpha5 = 3.2; see `demo_method_config`).
The published learning rate, length and iteration count are for I3D THUMOS14 features and are not used here.
The default (co2net) writes the same file as before this option existed.
"""
import argparse, sys, tempfile, time
from pathlib import Path
import torch
from co2net.config import get_config, make_dataset, model_from_config, data_label, METHODS, Config
from co2net.runs import load_checkpoint, save_checkpoint, load_model_weights
from co2net.train import train

ROOT = Path(__file__).resolve().parents[1]
NAMES = {'co2net': 'CO2-Net', 'delu': 'DELU', 'ddgnet': 'DDG-Net'}
# the fields that make a method what it is (network and loss); everything else (optimisation, data, selection) is the demo's
METHOD_FIELDS = ('method', 'alpha1', 'alpha2', 'alpha3', 'alpha4', 'topk_ratio', 'edl_ratio', 'alpha_edl', 'alpha_uct',
                 'amplitude', 'alpha5', 'alpha6', 'action_threshold', 'background_threshold', 'similarity_threshold',
                 'graph_topk_ratio', 'feature_weight', 'temperature')

def demo_method_fields(method: str) -> dict:
    "The fields of `method`'s published THUMOS14 preset that differ from the `demo` preset, among METHOD_FIELDS."
    if method not in METHODS: raise ValueError(f'unknown method {method!r}; choose one of {METHODS}')
    demo, pub = get_config('demo'), get_config('thumos14' if method == 'co2net' else f'{method}-thumos14')
    return {k: getattr(pub, k) for k in METHOD_FIELDS if getattr(pub, k) != getattr(demo, k)}

def demo_method_config(method: str = 'co2net') -> Config:
    "The `demo` preset with the method fields of `demo_method_fields(method)` (co2net: the demo preset itself)."
    return get_config('demo').override(demo_method_fields(method))

def default_out(method: str) -> Path:
    return ROOT/'data_samples'/('demo_model.pt' if method == 'co2net' else f'demo_model_{method}.pt')

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--method', default='co2net', choices=METHODS, help='co2net (default), delu or ddgnet')
    ap.add_argument('--out', default=None, help='checkpoint file to write (default: data_samples/demo_model.pt, '
                                                'or data_samples/demo_model_<method>.pt)')
    ap.add_argument('--overwrite', action='store_true', help='replace an existing --out file')
    args = ap.parse_args()
    out = Path(args.out) if args.out else default_out(args.method)
    if out.is_dir(): sys.exit(f'make_demo_model: --out {out} is a folder')
    if out.exists() and not args.overwrite: sys.exit(f'make_demo_model: {out} exists; pass --overwrite to replace it')
    t0 = time.time()
    cfg = demo_method_config(args.method)          # stored as is: the preset (+ method fields), nothing machine-specific
    with tempfile.TemporaryDirectory(prefix='co2net-demo-model-') as tmp:
        run_cfg = cfg.override({'out_dir': str(Path(tmp)/'run'), 'device': 'cpu', 'progress': False})
        torch.set_num_threads(run_cfg.num_threads)  # 1 thread, as `co2net demo`
        ds = make_dataset(run_cfg)                  # written under the run folder and read back, as `co2net demo`
        run = train(run_cfg, dataset=ds, verbose=False)
        chosen = Path(run.out_dir)/('last.pt' if run.selection == 'last' or run.best_iteration is None else 'best.pt')
        state = load_checkpoint(chosen)
    model = load_model_weights(model_from_config(cfg, state['meta']['n_classes'], state['meta']['feat_dim']), state, chosen)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(out, model=model, config=cfg, iteration=state['iteration'], meta=state['meta'],
                    extra={'selection': run.selection, 'recipe': 'python bench/make_demo_model.py'
                           + ('' if args.method == 'co2net' else f' --method {args.method}')})
    train_s = time.time() - t0
    from co2net.example import demo_model, demo_scores      # score the file as every chapter will load it
    res = demo_scores(demo_model(out))
    name, avg = res.headline()
    same = abs(avg - run.chosen.headline()[1]) < 1e-12
    print(f'wrote {out} ({out.stat().st_size / 1e3:.1f} kB): {NAMES[args.method]}, {sum(p.numel() for p in model.parameters())} '
          f'parameters, iteration {state["iteration"]} of {cfg.max_iter} (selection: {run.selection}); {train_s:.0f} s')
    print(f'Test split of the {data_label(cfg)}: {len(ds.test_idx)} videos, protocol {cfg.protocol}, mAP in %')
    print('tIoU     ' + ''.join(f'{t:>6.1f}' for t in res.thresholds) + '   AVG 0.1:0.7')
    print('mAP      ' + ''.join(f'{100 * m:>6.1f}' for m in res.map) + f'   {100 * avg:6.2f}')
    print(f'shipped model {name} on the synthetic demo test split: {100 * avg:.2f} '
          f'({"equal to" if same else "DIFFERENT from"} the training run\'s own test score {100 * run.chosen.headline()[1]:.2f})')

if __name__ == '__main__': main()
