"""End-to-end tests of the `co2net` command, each a subprocess, on tiny configurations.

The library logic is tested in the notebooks; here we check that the console script wires it
together: train -> checkpoint -> evaluate / detect, convert, and clear errors for bad input.
"""
import json, os, shutil, subprocess, sys
from pathlib import Path
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT/'data_samples'/'i3d_real'
# a tiny synthetic run: few short videos, small features, a handful of iterations
TINY = ['synthetic={"n_videos": 24, "feature_dim": 16, "n_classes": 4, "seed": 0, "duration": [10, 30]}', 'max_seqlen=32',
        'batch_size=6', 'n_pairs=2', 'max_iter=6', 'eval_interval=3', 'log_every=1']


def co2net(*args, cwd, expect=0):
    "Run `co2net ARGS` (through the installed entry point function) and check its exit status."
    env = {**os.environ, 'PYTHONUNBUFFERED': '1', 'OMP_NUM_THREADS': '1'}
    cmd = [sys.executable, '-c', 'import sys; from co2net.cli import main; sys.argv[0] = "co2net"; main()', *map(str, args)]
    p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env, timeout=300)
    assert p.returncode == expect, f'co2net {" ".join(map(str, args))} exited {p.returncode}\n{p.stdout}\n{p.stderr}'
    return p


@pytest.fixture(scope='module')
def tiny_run(tmp_path_factory):
    "Train a tiny model once; the other tests use its checkpoints."
    d = tmp_path_factory.mktemp('tiny')
    p = co2net('train', '--preset', 'demo', '--out', d/'run', '--device', 'cpu', '--override', *TINY, cwd=d)
    return d, p


def test_train_writes_run_folder(tiny_run):
    d, p = tiny_run
    run = d/'run'
    for f in ('config.json', 'metrics.jsonl', 'curve.png', 'last.pt', 'best.pt', 'results.json', 'test_detections.json'):
        assert (run/f).exists(), f'{f} missing; output:\n{p.stdout}'
    res = json.loads((run/'results.json').read_text())
    assert res['selection'] == 'validation' and 'synthetic' in res['data'] and 'not THUMOS14' in res['data']
    assert set(res['results']) == {'validation', 'last'}
    assert len(res['results']['last']['map']) == 9          # co2net protocol: tIoU 0.1..0.9
    cfg = json.loads((run/'config.json').read_text())
    assert cfg['max_iter'] == 6 and cfg['synthetic']['feature_dim'] == 16
    recs = [json.loads(l) for l in (run/'metrics.jsonl').read_text().splitlines()]
    assert [r['iter'] for r in recs if r['kind'] == 'eval'] == [3, 6]
    assert all(np.isfinite(r['loss']['total']) for r in recs if r['kind'] == 'train')
    assert 'selection' in p.stdout and 'not THUMOS14' in p.stdout


def test_evaluate_checkpoint(tiny_run):
    d, _ = tiny_run
    out = d/'eval.json'
    p = co2net('evaluate', d/'run'/'best.pt', '--out', out, '--device', 'cpu', cwd=d)
    assert 'AVG mAP@0.1:0.7' in p.stdout and 'not THUMOS14' in p.stdout and 'selection: validation' in p.stdout
    js = json.loads(out.read_text())
    assert 'results' in js


def test_evaluate_counts_dropped_activitynet_videos(tmp_path):
    """ActivityNet1.2 family: test videos with <= 10 snippets get no prediction, but `co2net evaluate` must
    still count their ground truth (the official evaluation does), so the GT total printed is that of every
    test-subset video, larger than the GT of the videos predicted on."""
    from co2net.data import load_annotations, load_dataset
    syn = '{"n_videos": 30, "feature_dim": 16, "n_classes": 4, "seed": 1, "duration": [4, 30]}'
    over = [f'synthetic={syn}', 'max_seqlen=12', 'batch_size=6', 'n_pairs=2', 'max_iter=2', 'eval_interval=2',
            'selection=last', 'dataset=demo', 'data_root=']
    co2net('train', '--preset', 'activitynet12', '--out', tmp_path/'run', '--device', 'cpu', '--override', *over, cwd=tmp_path)
    ds = load_dataset(tmp_path/'run'/'data', 'SynDemo', preset='activitynet12')
    ann = load_annotations(tmp_path/'run'/'data'/'SynDemo-Annotations')
    dropped_test = np.setdiff1d(ds.test_gt_idx, ds.test_idx)
    gt_of = lambda idx: sum(len(ann.segments[i]) for i in idx)
    assert len(dropped_test) and gt_of(dropped_test) > 0, 'the synthetic set should hold a short test video with GT'
    p = co2net('evaluate', tmp_path/'run'/'last.pt', '--device', 'cpu', cwd=tmp_path)
    n_all = gt_of(np.flatnonzero(ann.subset == 'validation'))
    assert f' {n_all} GT' in p.stdout, p.stdout
    assert f' {gt_of(ds.test_idx)} GT' not in p.stdout


def test_train_bad_inputs(tmp_path):
    p = co2net('train', '--preset', 'nonsense', cwd=tmp_path, expect=2)
    assert 'unknown preset' in p.stderr
    p = co2net('train', '--preset', 'thumos14', '--data-root', tmp_path/'nowhere', cwd=tmp_path, expect=2)
    assert 'nowhere' in p.stderr and 'Traceback' not in p.stderr
    p = co2net('nonsense', cwd=tmp_path, expect=2)
    assert 'unknown subcommand' in p.stderr


def test_evaluate_bad_checkpoint(tmp_path):
    bad = tmp_path/'broken.pt'
    bad.write_bytes(b'not a checkpoint at all')
    p = co2net('evaluate', bad, cwd=tmp_path, expect=2)
    assert 'broken.pt' in p.stderr and 'Traceback' not in p.stderr


@pytest.fixture(scope='module')
def i3d_checkpoint(tmp_path_factory):
    """A checkpoint of an untrained 2048-d model (the real I3D feature size), 20 named classes.
    Untrained on purpose: no real training data ships with the repository, and an untrained model's
    attention (about 0.5 everywhere) is sure to produce detections, which is what the plumbing test needs."""
    import torch
    from co2net.train import get_config, model_from_config, save_checkpoint, seed_everything
    d = tmp_path_factory.mktemp('i3d')
    cfg = get_config('thumos14', device='cpu')
    seed_everything(0)
    classes = [f'action{c:02d}' for c in range(20)]
    save_checkpoint(d/'i3d.pt', model=model_from_config(cfg, 20, 2048), config=cfg, iteration=0,
                    meta={'classes': classes, 'n_classes': 20, 'feat_dim': 2048, 'data': 'untrained'})
    return d, d/'i3d.pt'


def test_detect_real_i3d_features(i3d_checkpoint):
    d, ck = i3d_checkpoint
    feats = [REAL/'highjump.npy', REAL/'tennis26.npy']
    lengths = {f.stem: len(np.load(f)) for f in feats}
    out = d/'dets.json'
    p = co2net('detect', ck, *feats, '--out', out, '--device', 'cpu', cwd=d)
    js = json.loads(out.read_text())['results']
    assert set(js) == set(lengths)
    for video, dets in js.items():
        assert dets, f'no detection for {video}'
        assert all(isinstance(d['score'], float) for d in dets)
        dur = lengths[video] * 16 / 25
        for det in dets:
            assert det['label'] in [f'action{c:02d}' for c in range(20)]
            s, e = det['segment']
            assert 0 <= s < e <= dur + 1e-6, (video, det, dur)
    assert 'highjump' in p.stdout


def test_detect_bad_features(i3d_checkpoint, tmp_path):
    d, ck = i3d_checkpoint
    np.save(tmp_path/'small.npy', np.zeros((10, 64), np.float32))
    p = co2net('detect', ck, tmp_path/'small.npy', cwd=tmp_path, expect=2)
    assert 'small.npy' in p.stderr and '2048' in p.stderr
    x = np.zeros((10, 2048), np.float32); x[3, 5] = np.nan
    np.save(tmp_path/'nan.npy', x)
    p = co2net('detect', ck, tmp_path/'nan.npy', cwd=tmp_path, expect=2)
    assert 'nan.npy' in p.stderr and 'NaN' in p.stderr


def test_convert(tmp_path):
    from co2net.data import load_annotations
    ann_dir = ROOT/'data_samples'/'Thumos14reduced-Annotations'
    names = load_annotations(ann_dir).names
    rng = np.random.default_rng(0)
    feats = np.empty(len(names), dtype=object)
    for i in range(len(names)): feats[i] = rng.standard_normal((3 + i % 5, 8)).astype(np.float32)
    src = tmp_path/'Thumos14reduced-I3D-JOINTFeatures.npy'
    np.save(src, feats, allow_pickle=True)
    p = co2net('convert', src, '--annotations', ann_dir, '--out', tmp_path/'perv', cwd=tmp_path)
    files = sorted((tmp_path/'perv').glob('*.npy'))
    assert len(files) == len(names)
    k = 7
    np.testing.assert_array_equal(np.load(tmp_path/'perv'/f'{names[k]}.npy'), feats[k])
    p = co2net('convert', tmp_path/'absent.npy', '--annotations', ann_dir, cwd=tmp_path, expect=2)
    assert 'absent.npy' in p.stderr


def test_train_ablation_variant_override(tmp_path):
    """The paper's ablation switches are config fields: `--override fusion=se loss_terms=a,b,...` trains that
    variant (recorded in config.json and the checkpoint), `evaluate` rebuilds it, and a bad value is one error line."""
    from co2net.train import load_checkpoint, Config
    over = [*TINY, 'selection=last', 'fusion=se', 'mutual_metric=js', 'loss_terms=mil_orig,mil_supp,mutual']
    co2net('train', '--preset', 'demo', '--out', tmp_path/'run', '--device', 'cpu', '--override', *over, cwd=tmp_path)
    cfg = json.loads((tmp_path/'run'/'config.json').read_text())
    assert (cfg['fusion'], cfg['mutual_metric'], cfg['loss_terms']) == ('se', 'js', ['mil_orig', 'mil_supp', 'mutual'])
    st = load_checkpoint(tmp_path/'run'/'last.pt')
    assert Config.from_dict(st['config']).loss_terms == ('mil_orig', 'mil_supp', 'mutual')
    assert any('squeeze_fc' in k for k in st['model']), 'an SE model has squeeze/excite layers'
    for r in [json.loads(l) for l in (tmp_path/'run'/'metrics.jsonl').read_text().splitlines()]:
        if r['kind'] == 'train':        # total = the three chosen terms (weights 1, 1, alpha4 = 1)
            assert abs(r['loss']['total'] - (r['loss']['mil_orig'] + r['loss']['mil_supp'] + r['loss']['mutual'])) < 1e-5
    p = co2net('evaluate', tmp_path/'run'/'last.pt', '--device', 'cpu', cwd=tmp_path)
    assert 'AVG mAP@0.1:0.7' in p.stdout
    p = co2net('train', '--preset', 'demo', '--out', tmp_path/'bad', '--override', 'main_context=medium', cwd=tmp_path, expect=2)
    assert 'main_context' in p.stderr and 'Traceback' not in p.stderr
