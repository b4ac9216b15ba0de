"""Re-create the running example's model, data_samples/demo_model.pt, and print its test scores.

Usage (from the repository root): python bench/make_demo_model.py [--out data_samples/demo_model.pt] [--overwrite]

It trains the `demo` preset exactly as `co2net demo` does (same config, seed 0, 1 CPU thread, the synthetic demo
set written to a folder and read back, checkpoint chosen on the validation split), in a temporary run folder,
then writes the chosen weights as a small co2net checkpoint (config, meta with the class names, iteration; no
optimizer, RNG or sampler state) and scores that file on the test split of the synthetic demo data (co2net
protocol). An existing file is kept unless --overwrite is given. About 15-30 s on a 2-core CPU.
"""
import argparse, sys, tempfile, time
from pathlib import Path
import torch
from co2net.config import get_config, make_dataset, model_from_config, data_label
from co2net.runs import load_checkpoint, save_checkpoint, load_model_weights
from co2net.train import train

ROOT = Path(__file__).resolve().parents[1]

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--out', default=str(ROOT/'data_samples'/'demo_model.pt'), help='checkpoint file to write')
    ap.add_argument('--overwrite', action='store_true', help='replace an existing --out file')
    args = ap.parse_args()
    out = Path(args.out)
    if out.is_dir(): sys.exit(f'make_demo_model: --out {out} is a folder')
    if out.exists() and not args.overwrite: sys.exit(f'make_demo_model: {out} exists; pass --overwrite to replace it')
    t0 = time.time()
    cfg = get_config('demo')                        # stored as is: the preset, nothing machine-specific
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
                    extra={'selection': run.selection, 'recipe': 'python bench/make_demo_model.py'})
    train_s = time.time() - t0
    from co2net.example import demo_model, demo_scores      # score the file as every chapter will load it
    res = demo_scores(demo_model(out))
    name, avg = res.headline()
    same = abs(avg - run.chosen.headline()[1]) < 1e-12
    print(f'wrote {out} ({out.stat().st_size / 1e3:.1f} kB): CO2-Net, {sum(p.numel() for p in model.parameters())} '
          f'parameters, iteration {state["iteration"]} of {cfg.max_iter} (selection: {run.selection}); {train_s:.0f} s')
    print(f'Test split of the {data_label(cfg)}: {len(ds.test_idx)} videos, protocol {cfg.protocol}, mAP in %')
    print('tIoU     ' + ''.join(f'{t:>6.1f}' for t in res.thresholds) + '   AVG 0.1:0.7')
    print('mAP      ' + ''.join(f'{100 * m:>6.1f}' for m in res.map) + f'   {100 * avg:6.2f}')
    print(f'shipped model {name} on the synthetic demo test split: {100 * avg:.2f} '
          f'({"equal to" if same else "DIFFERENT from"} the training run\'s own test score {100 * run.chosen.headline()[1]:.2f})')

if __name__ == '__main__': main()
