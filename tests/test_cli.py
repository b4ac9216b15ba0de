"""End-to-end tests of the `co2net` command on tiny configurations.

The library logic is tested in the notebooks; here we check that the console script wires it
together (train -> checkpoint -> evaluate / detect, convert), that nothing is overwritten, and that
bad input ends with one clear line. Subprocesses where the process matters (exit status, imports);
`run_command` in this process elsewhere, to stay fast.
"""
import json, os, shutil, subprocess, sys
from pathlib import Path
import numpy as np
import pytest

from cli_common import run, tree

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT/'data_samples'/'i3d_real'
# a tiny synthetic run: few short videos, small features, a handful of iterations
TINY = ['synthetic={"n_videos": 24, "feature_dim": 16, "n_classes": 4, "seed": 0, "duration": [10, 30]}', 'max_seqlen=32',
        'batch_size=6', 'n_pairs=2', 'max_iter=6', 'eval_interval=3', 'log_every=1']


def co2net(*args, cwd, expect=0, env=None):
    "Run `co2net ARGS` (through the installed entry point function) in a subprocess and check its exit status."
    env = {**os.environ, 'PYTHONUNBUFFERED': '1', 'OMP_NUM_THREADS': '1', **(env or {})}
    cmd = [sys.executable, '-c', 'import sys; from co2net.cli import main; sys.argv[0] = "co2net"; main()', *map(str, args)]
    p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env, timeout=300)
    assert p.returncode == expect, f'co2net {" ".join(map(str, args))} exited {p.returncode}\n{p.stdout}\n{p.stderr}'
    return p


@pytest.fixture(scope='module')
def tiny_run(tmp_path_factory):
    "Train a tiny model once (a real subprocess); the other tests use its checkpoints."
    d = tmp_path_factory.mktemp('tiny')
    p = co2net('train', '--preset', 'demo', '--out', d/'run', '--device', 'cpu', '--override', *TINY, cwd=d)
    return d, p


def test_train_writes_run_folder(tiny_run):
    d, p = tiny_run
    run_dir = d/'run'
    for f in ('config.json', 'metrics.jsonl', 'curve.png', 'last.pt', 'best.pt', 'results.json', 'test_detections.json'):
        assert (run_dir/f).exists(), f'{f} missing; output:\n{p.stdout}'
    res = json.loads((run_dir/'results.json').read_text())
    assert res['selection'] == 'validation' and 'synthetic' in res['data'] and 'not THUMOS14' in res['data']
    assert set(res['results']) == {'validation', 'last'}
    assert len(res['results']['last']['map_pct']) == 9          # co2net protocol: tIoU 0.1..0.9, in percent
    assert res['results']['last']['headline_name'] == 'AVG mAP@0.1:0.7'
    cfg = json.loads((run_dir/'config.json').read_text())
    assert cfg['max_iter'] == 6 and cfg['synthetic']['feature_dim'] == 16
    recs = [json.loads(l) for l in (run_dir/'metrics.jsonl').read_text().splitlines()]
    assert [r['iter'] for r in recs if r['kind'] == 'eval'] == [3, 6]
    assert all(np.isfinite(r['loss']['total']) for r in recs if r['kind'] == 'train')
    assert all(0 <= r['cls_map_pct'] <= 100 for r in recs if r['kind'] == 'eval')      # classification mAP logged
    assert 'selection' in p.stdout and 'not THUMOS14' in p.stdout


def test_train_console(tiny_run):
    "Header (data and splits, device, threads, parameters, config path), loss lines, final line naming results and checkpoint."
    d, p = tiny_run
    out = p.stdout
    assert 'training on 8 videos (4 held out for validation), test split 12 videos' in out, out
    assert 'device: cpu' in out and 'CPU thread' in out and 'parameters' in out and f"config: {d/'run'/'config.json'}" in out
    assert 'iter 3/6: loss ' in out and 'classification mAP' in out
    assert out.strip().splitlines()[-1].startswith(f"results: {d/'run'/'results.json'}; chosen checkpoint: {d/'run'/'best.pt'}")
    assert '\x1b[' not in out and '\r' not in out                 # no terminal control codes off a terminal


def test_evaluate_checkpoint(tiny_run):
    d, _ = tiny_run
    out = d/'eval.json'
    stdout, _ = run('evaluate', d/'run'/'best.pt', '--out', out, '--device', 'cpu', '--per-class')
    assert 'AVG mAP@0.1:0.7' in stdout and 'not THUMOS14' in stdout and 'selection: validation' in stdout
    assert sum(line.startswith('Action') for line in stdout.splitlines()) == 4, stdout      # --per-class: one row per class
    js = json.loads(out.read_text())
    assert 'results' in js and js['external_data']['used'] is False and 'synthetic' in js['external_data']['details']
    # the same file again: refused without --overwrite
    _, err = run('evaluate', d/'run'/'best.pt', '--out', out, expect=2)
    assert 'exists; pass --overwrite' in err
    run('evaluate', d/'run'/'best.pt', '--out', out, '--overwrite')


def test_evaluate_one_file_per_protocol(tiny_run, tmp_path):
    "Default detections file per split and protocol; the headline average follows the protocol (not the data family)."
    d, _ = tiny_run
    ck = tmp_path/'best.pt'; shutil.copy(d/'run'/'best.pt', ck)
    out1, _ = run('evaluate', ck, '--device', 'cpu')
    out2, _ = run('evaluate', ck, '--device', 'cpu', '--protocol', 'activitynet')
    assert (tmp_path/'best_test_co2net_detections.json').exists() and (tmp_path/'best_test_activitynet_detections.json').exists()
    assert out1.splitlines()[-2].startswith('AVG mAP@0.1:0.7')
    assert out2.splitlines()[-2].startswith('AVG mAP@0.5:0.95'), out2


def test_evaluate_never_writes_data(tmp_path):
    "evaluate --data-root DIR with a demo checkpoint reads DIR as it is: a changed file stays changed, nothing is added."
    data = tmp_path/'data'
    co2net('train', '--preset', 'demo', '--out', tmp_path/'run', '--device', 'cpu', '--data-root', data,
           '--override', *TINY, 'selection=last', cwd=tmp_path)
    feats = data/'SynDemo-I3D-JOINTFeatures.npy'
    planted = np.load(feats, allow_pickle=True); planted[0] = planted[0] * 0 + 7
    np.save(feats, planted, allow_pickle=True)
    before = tree(data)
    run('evaluate', tmp_path/'run'/'last.pt', '--data-root', data, '--device', 'cpu')
    assert tree(data) == before
    # generating data is train's / demo's job, and it refuses to overwrite files that differ
    _, err = run('train', '--preset', 'demo', '--out', tmp_path/'run2', '--data-root', data, '--override', *TINY, expect=2)
    assert 'differ' in err and str(data) in err
    assert tree(data) == before and not (tmp_path/'run2').exists()
    # with no data files at all, evaluation runs on the set generated in memory and writes no data
    shutil.rmtree(data)
    run('evaluate', tmp_path/'run'/'last.pt', '--device', 'cpu', '--out', tmp_path/'e.json')
    assert not data.exists()


def test_train_refuses_finished_run(tiny_run, tmp_path):
    "A folder with a run is never mixed with another: a bad override fails before writing, a good one needs --overwrite."
    d, _ = tiny_run
    shutil.copytree(d/'run', tmp_path/'run')
    before = tree(tmp_path/'run')
    _, err = run('train', '--preset', 'demo', '--out', tmp_path/'run', '--override', *TINY, 'class_threshold=nan', expect=2)
    assert 'class_threshold=nan' in err
    _, err = run('train', '--preset', 'demo', '--out', tmp_path/'run', '--override', *TINY, expect=2)
    assert 'not empty' in err and '--overwrite' in err and '--resume' in err
    assert tree(tmp_path/'run') == before
    run('train', '--preset', 'demo', '--out', tmp_path/'run', '--device', 'cpu', '--override', *TINY, 'seed=1', '--overwrite')
    assert json.loads((tmp_path/'run'/'config.json').read_text())['seed'] == 1
    from co2net.train import load_checkpoint
    for f in ('best.pt', 'last.pt'): assert load_checkpoint(tmp_path/'run'/f)['config']['seed'] == 1
    assert json.loads((tmp_path/'run'/'results.json').read_text())['config']['seed'] == 1


def test_demo_refuses_non_empty_folder(tmp_path):
    (tmp_path/'out').mkdir(); (tmp_path/'out'/'notes.txt').write_text('mine')
    _, err = run('demo', '--out', tmp_path/'out', expect=2)
    assert 'not empty (notes.txt)' in err
    assert tree(tmp_path/'out') == {'notes.txt': b'mine'}
    # only a data folder, but its SynDemo files differ from what the demo generates: refused, left as they are
    (tmp_path/'out2'/'data').mkdir(parents=True); (tmp_path/'out2'/'data'/'SynDemo-I3D-JOINTFeatures.npy').write_bytes(b'mine')
    _, err = run('demo', '--out', tmp_path/'out2', expect=2)
    assert 'differ' in err and 'not overwritten' in err
    assert tree(tmp_path/'out2') == {'data/SynDemo-I3D-JOINTFeatures.npy': b'mine'}


def test_train_bad_inputs(tmp_path):
    _, err = run('train', '--preset', 'nonsense', expect=2)
    assert 'unknown preset' in err
    _, err = run('train', '--preset', 'thumos14', '--data-root', tmp_path/'nowhere', '--out', tmp_path/'r', expect=2)
    assert 'nowhere' in err and 'Traceback' not in err
    _, err = run('nonsense', expect=2)
    assert 'unknown subcommand' in err


@pytest.mark.parametrize('override, shown', [('class_threshold=nan', 'class_threshold=nan'), ('gamma=-5', 'gamma=-5.0'),
                                             ('alpha1=nan', 'alpha1=nan'), ('lr=0', 'lr=0.0'), ('max_iter=0', 'max_iter=0')])
def test_train_numeric_fields_checked(tmp_path, override, shown):
    "Every numeric config field is checked when the config is built: one line, nothing written, no FloatingPointError."
    tiny = [o for o in TINY if o.split('=')[0] != override.split('=')[0]]      # a key given twice would be refused
    _, err = run('train', '--preset', 'demo', '--out', tmp_path/'run', '--override', *tiny, override, expect=2)
    assert shown in err and 'Traceback' not in err and 'FloatingPointError' not in err
    assert not (tmp_path/'run').exists()


def test_diverging_training_is_one_line(tmp_path):
    "A loss that becomes NaN (here lr=1e30) ends with one line naming the non-finite terms, exit status 1, no traceback."
    _, err = run('train', '--preset', 'demo', '--out', tmp_path/'run', '--device', 'cpu', '--override', *TINY, 'lr=1e30', expect=1)
    assert 'the loss is not finite' in err and 'total=nan' in err and 'Traceback' not in err
    assert len(err.strip().splitlines()) == 1


def test_empty_validation_split_fails_before_training(tmp_path):
    "40 demo videos: 20 training videos over 20 classes leave no validation video; an error before any iteration."
    _, err = run('train', '--preset', 'demo', '--out', tmp_path/'run', '--override', 'synthetic={"n_videos": 40}', expect=2)
    assert 'validation split is empty' in err
    assert not (tmp_path/'run'/'metrics.jsonl').exists()


def test_evaluate_bad_checkpoint(tmp_path):
    bad = tmp_path/'broken.pt'
    bad.write_bytes(b'not a checkpoint at all')
    _, err = run('evaluate', bad, expect=2)
    assert 'broken.pt' in err and 'Traceback' not in err


def test_checkpoint_without_classes_or_with_bad_config(tiny_run, tmp_path):
    import torch
    from co2net.train import load_checkpoint
    st = load_checkpoint(tiny_run[0]/'run'/'last.pt')
    torch.save({**st, 'meta': {k: v for k, v in st['meta'].items() if k != 'classes'}}, tmp_path/'noclasses.pt')
    _, err = run('evaluate', tmp_path/'noclasses.pt', expect=2)
    assert 'noclasses.pt' in err and 'meta.classes' in err and 'KeyError' not in err
    torch.save({**st, 'config': {**st['config'], 'max_iter': '6'}}, tmp_path/'badtype.pt')
    _, err = run('detect', tmp_path/'badtype.pt', REAL/'highjump.npy', '--out', tmp_path/'d.json', expect=2)
    assert 'badtype.pt' in err and "max_iter='6'" in err and 'TypeError' not in err


@pytest.fixture(scope='module')
def i3d_checkpoint(tmp_path_factory):
    """A checkpoint of an untrained 2048-d model (the real I3D feature size), 20 named classes.
    Untrained on purpose: no real training data ships with the repository, and an untrained model's
    attention (about 0.5 everywhere) is sure to produce detections, which is what the plumbing test needs."""
    from co2net.train import get_config, model_from_config, save_checkpoint, seed_everything
    d = tmp_path_factory.mktemp('i3d')
    cfg = get_config('thumos14', device='cpu')
    seed_everything(0)
    classes = [f'action{c:02d}' for c in range(20)]
    model = model_from_config(cfg, 20, 2048)
    save_checkpoint(d/'i3d.pt', model=model, config=cfg, iteration=0,
                    meta={'classes': classes, 'n_classes': 20, 'feat_dim': 2048, 'data': 'untrained'})
    return d, d/'i3d.pt', model


def test_detect_real_i3d_features(i3d_checkpoint):
    """Both real clips with the default time step (W-TALC, 16 frames at 25 fps per row, recorded as such), then each
    with its own time step (--seconds-per-row, --fps/--stride): the same detections on the new grid, within the
    video's duration, and the step recorded in the JSON."""
    d, ck, _ = i3d_checkpoint
    feats = [REAL/'highjump.npy', REAL/'tennis26.npy']
    lengths = {f.stem: len(np.load(f)) for f in feats}
    out = d/'dets.json'
    p = co2net('detect', ck, *feats, '--out', out, '--device', 'cpu', cwd=d)
    raw = json.loads(out.read_text())
    assert raw['time_step'] == {'seconds_per_row': 0.64, 'fps': 25.0, 'stride': 16.0}     # the default, unchanged
    js = raw['results']
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
    run('detect', ck, *feats, '--out', out, expect=2)                   # exists: refused without --overwrite
    # the source videos: highjump 24.20 s (164 rows), tennis26 339 frames at 30 fps (89 rows); see the data README
    for video, opts, step, dur in (('highjump', ['--seconds-per-row', 24.2 / 164], {'seconds_per_row': 24.2 / 164, 'fps': None, 'stride': None}, 24.2),
                                   ('tennis26', ['--fps', 30, '--stride', 339 / 89], {'seconds_per_row': 339 / 89 / 30, 'fps': 30.0, 'stride': 339 / 89}, 339 / 30)):
        o = d/f'{video}_step.json'
        stdout, _ = run('detect', ck, REAL/f'{video}.npy', '--out', o, '--device', 'cpu', *opts)
        got = json.loads(o.read_text())
        assert got['time_step'].keys() == step.keys() and all(
            (got['time_step'][k] is None) if v is None else abs(got['time_step'][k] - v) < 1e-12 for k, v in step.items()), got['time_step']
        assert f"{step['seconds_per_row']:.4g} s per feature row" in stdout
        new, old = got['results'][video], js[video]
        assert [x['label'] for x in new] == [x['label'] for x in old]        # scores: the first run was another process (threads)
        np.testing.assert_allclose([x['score'] for x in new], [x['score'] for x in old], atol=1e-6)
        rows = np.array([x['segment'] for x in old]) / 0.64                 # back to feature rows (integers)
        np.testing.assert_allclose(rows, np.round(rows), atol=1e-9)
        np.testing.assert_allclose(np.array([x['segment'] for x in new]), np.round(rows) * step['seconds_per_row'], rtol=1e-12)
        assert max(x['segment'][1] for x in new) <= dur + 1e-6            # within the video, unlike the 0.64 s grid
    assert max(x['segment'][1] for x in js['highjump']) > 24.2              # the default grid overshoots this clip


@pytest.mark.parametrize('opts, named', [(['--seconds-per-row', '0'], '--seconds-per-row 0.0'),
                                         (['--seconds-per-row', '-0.5'], '--seconds-per-row -0.5'),
                                         (['--seconds-per-row', 'nan'], '--seconds-per-row nan'),
                                         (['--fps', 'inf', '--stride', '4'], '--fps inf'),
                                         (['--fps', '30', '--stride', '0'], '--stride 0.0'),
                                         (['--seconds-per-row', '0.1', '--fps', '30', '--stride', '4'], '--seconds-per-row excludes --fps/--stride'),
                                         (['--fps', '30'], '--fps and --stride go together'),
                                         (['--stride', '4'], '--fps and --stride go together')])
def test_detect_bad_time_step(i3d_checkpoint, tmp_path, opts, named):
    "A bad time step: one line naming the option, status 2, no output file."
    _, ck, _ = i3d_checkpoint
    _, err = run('detect', ck, REAL/'highjump.npy', '--out', tmp_path/'o.json', *opts, expect=2)
    assert named in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path/'o.json').exists()


def test_detect_and_evaluate_use_the_checkpoints_localization(i3d_checkpoint, tiny_run, tmp_path):
    """A checkpoint whose config has DELU's 2024 tester settings (20 attention thresholds, detections of at least 2
    snippets) is localized with them by detect and evaluate: the same detections as predict_videos / predict called
    with those settings, and not those of the default (official CO2-Net) tester."""
    from co2net.runs import load_checkpoint, save_checkpoint
    from co2net.config import Config, make_dataset
    from co2net.predict import predict_videos, predict, split_videos, localization_settings, attention_thresholds
    from co2net.cli import model_from_checkpoint
    from co2net.localize import write_results_json
    delu = {'n_thresholds': 20, 'min_detection_snippets': 2}
    # detect: the untrained 2048-d model
    _, ck, model = i3d_checkpoint
    st = load_checkpoint(ck)
    cfg = Config.from_dict(st['config']).override(delu)
    ck2 = tmp_path/'delu_tester.pt'
    save_checkpoint(ck2, model=model, config=cfg, iteration=0, meta=st['meta'])
    x = np.load(REAL/'highjump.npy').astype(np.float32)
    settings = localization_settings(cfg)
    assert len(settings['thresholds']) == 20 and settings['min_snippets'] == 2
    expect = predict_videos(model, [('highjump', x)], device='cpu', **settings)
    default = predict_videos(model, [('highjump', x)], device='cpu')
    assert len(expect['start']) != len(default['start']) or not np.array_equal(expect['score'], default['score'])
    assert np.all(expect['end'] - expect['start'] >= 2) and np.any(default['end'] - default['start'] < 2)
    run('detect', ck2, REAL/'highjump.npy', '--out', tmp_path/'d.json', '--device', 'cpu')
    write_results_json(expect, st['meta']['classes'], tmp_path/'expect.json', videos=['highjump'])
    assert json.loads((tmp_path/'d.json').read_text())['results'] == json.loads((tmp_path/'expect.json').read_text())['results']
    # evaluate: the tiny synthetic run
    d, _ = tiny_run
    st = load_checkpoint(d/'run'/'best.pt')
    cfg = Config.from_dict(st['config']).override(delu)
    tmodel, _, _ = model_from_checkpoint(d/'run'/'best.pt', 'cpu')
    ck3 = tmp_path/'tiny_delu.pt'
    save_checkpoint(ck3, model=tmodel, config=cfg, iteration=st['iteration'], meta=st['meta'], extra=st['extra'])
    run('evaluate', ck3, '--out', tmp_path/'e.json', '--device', 'cpu')
    ds = make_dataset(cfg, write=False, feature_dim=st['meta']['feat_dim'])
    idx, _ = split_videos(ds, 'test')
    expect = predict(tmodel, ds, idx, device='cpu', **localization_settings(cfg))
    write_results_json(expect, list(map(str, ds.classes)), tmp_path/'expect_e.json')
    got = json.loads((tmp_path/'e.json').read_text())['results']
    assert got == json.loads((tmp_path/'expect_e.json').read_text())['results']
    default = predict(tmodel, ds, idx, device='cpu')
    assert len(default['start']) != len(expect['start'])


def test_detect_official_checkpoint(i3d_checkpoint, tmp_path):
    "detect --official thumos14: an official-format state dict, THUMOS14 class names built in."
    import torch
    from co2net.model import to_official_state_dict
    from co2net.cli import THUMOS14_CLASSES
    _, _, model = i3d_checkpoint
    torch.save(to_official_state_dict(model), tmp_path/'official.pkl')
    run('detect', tmp_path/'official.pkl', REAL/'highjump.npy', '--official', 'thumos14', '--out', tmp_path/'o.json', '--device', 'cpu')
    dets = json.loads((tmp_path/'o.json').read_text())['results']['highjump']
    assert dets and {d['label'] for d in dets} <= set(THUMOS14_CLASSES)
    _, err = run('detect', tmp_path/'official.pkl', REAL/'highjump.npy', '--official', 'activitynet12', '--out', tmp_path/'a.json', expect=2)
    assert '--classes' in err


def test_detect_bad_features(i3d_checkpoint, tmp_path):
    d, ck, _ = i3d_checkpoint
    np.save(tmp_path/'small.npy', np.zeros((10, 64), np.float32))
    _, err = run('detect', ck, tmp_path/'small.npy', '--out', tmp_path/'o.json', expect=2)
    assert 'small.npy' in err and '2048' in err and '[RGB | FLOW]' in err
    np.save(tmp_path/'ints.npy', np.zeros((10, 2048), np.int32))
    _, err = run('detect', ck, tmp_path/'ints.npy', '--out', tmp_path/'o.json', expect=2)
    assert 'ints.npy' in err and 'int32' in err and 'floating point' in err
    x = np.zeros((10, 2048), np.float32); x[3, 5] = np.nan
    np.save(tmp_path/'nan.npy', x)
    _, err = run('detect', ck, tmp_path/'nan.npy', '--out', tmp_path/'o.json', expect=2)
    assert 'nan.npy' in err and 'NaN' in err
    _, err = run('detect', ck, REAL/'highjump.npy', '--class-threshold', '5', '--out', tmp_path/'o.json', expect=2)
    assert 'class_threshold=5.0' in err
    assert not (tmp_path/'o.json').exists()


def test_detect_unwritable_out_checked_first(i3d_checkpoint, tmp_path):
    "An output under a regular file (or in a read-only folder) is one line naming the path, before any computation."
    d, ck, _ = i3d_checkpoint
    (tmp_path/'afile').write_text('x')
    p = co2net('detect', ck, REAL/'highjump.npy', '--out', tmp_path/'afile'/'dets.json', cwd=tmp_path, expect=2)
    assert str(tmp_path/'afile'/'dets.json') in p.stderr and 'Traceback' not in p.stderr
    assert 'video(s)' not in p.stdout                                     # nothing was computed
    if os.geteuid() != 0:                                                 # root writes into read-only folders anyway
        ro = tmp_path/'ro'; ro.mkdir(); ro.chmod(0o555)
        try:
            p = co2net('detect', ck, REAL/'highjump.npy', '--out', ro/'dets.json', cwd=tmp_path, expect=2)
            assert str(ro/'dets.json') in p.stderr and 'Traceback' not in p.stderr
        finally: ro.chmod(0o755)


def test_detect_video_input_checks(i3d_checkpoint, tmp_path):
    "A video file needs I3D weights or --random-weights; checked before anything runs."
    d, ck, _ = i3d_checkpoint
    (tmp_path/'clip.mp4').write_bytes(b'\x00' * 64)
    _, err = run('detect', ck, tmp_path/'clip.mp4', '--out', tmp_path/'o.json', expect=2)
    assert '--rgb-weights' in err and '--random-weights' in err
    _, err = run('detect', ck, REAL/'highjump.npy', '--random-weights', '--out', tmp_path/'o.json', expect=2)
    assert 'video files only' in err


def _write_video(path, n_frames=32, size=64):
    "A short synthetic video (a bright square moving right), written with PyAV."
    av = pytest.importorskip('av')
    with av.open(str(path), 'w') as c:
        s = c.add_stream('mpeg4', rate=25); s.width = s.height = size; s.pix_fmt = 'yuv420p'
        for i in range(n_frames):
            img = np.zeros((size, size, 3), np.uint8); img[20:36, 2 + i:18 + i] = 255
            for pkt in s.encode(av.VideoFrame.from_ndarray(img, format='rgb24')): c.mux(pkt)
        for pkt in s.encode(): c.mux(pkt)


def test_detect_video_file_random_weights(i3d_checkpoint, tmp_path):
    "co2net detect VIDEO.mp4 --random-weights: features from co2net.features, then detections (pipeline test)."
    pytest.importorskip('co2net.features'); pytest.importorskip('cv2')
    d, ck, _ = i3d_checkpoint
    _write_video(tmp_path/'clip.mp4')
    out, _ = run('detect', ck, tmp_path/'clip.mp4', '--random-weights', '--out', tmp_path/'o.json', '--device', 'cpu')
    js = json.loads((tmp_path/'o.json').read_text())
    assert list(js['results']) == ['clip'] and js['external_data']['used'] is False and 'RANDOM' in js['external_data']['details']
    assert js['features']['random_weights'] is True and js['features']['extracted_from_videos'] == [str(tmp_path/'clip.mp4')]
    assert 'random I3D weights' in out


def test_convert(tmp_path):
    from co2net.data import load_annotations
    ann_dir = ROOT/'data_samples'/'Thumos14reduced-Annotations'
    names = load_annotations(ann_dir).names
    rng = np.random.default_rng(0)
    feats = np.empty(len(names), dtype=object)
    for i in range(len(names)): feats[i] = rng.standard_normal((3 + i % 5, 8)).astype(np.float32)
    src = tmp_path/'Thumos14reduced-I3D-JOINTFeatures.npy'
    np.save(src, feats, allow_pickle=True)
    run('convert', src, '--annotations', ann_dir, '--out', tmp_path/'perv')
    files = sorted((tmp_path/'perv').glob('*.npy'))
    assert len(files) == len(names)
    k = 7
    np.testing.assert_array_equal(np.load(tmp_path/'perv'/f'{names[k]}.npy'), feats[k])
    _, err = run('convert', tmp_path/'absent.npy', '--annotations', ann_dir, expect=2)
    assert 'absent.npy' in err


def test_train_ablation_variant_override(tmp_path):
    """The paper's ablation switches are config fields: `--override fusion=se loss_terms=a,b,...` trains that
    variant (recorded in config.json and the checkpoint), `evaluate` rebuilds it, and a bad value is one error line."""
    from co2net.train import load_checkpoint, Config
    over = [*TINY, 'selection=last', 'fusion=se', 'mutual_metric=js', 'loss_terms=mil_orig,mil_supp,mutual', 'init=official']
    run('train', '--preset', 'demo', '--out', tmp_path/'run', '--device', 'cpu', '--override', *over)
    cfg = json.loads((tmp_path/'run'/'config.json').read_text())
    assert (cfg['fusion'], cfg['mutual_metric'], cfg['loss_terms'], cfg['init']) == ('se', 'js', ['mil_orig', 'mil_supp', 'mutual'], 'official')
    st = load_checkpoint(tmp_path/'run'/'last.pt')
    assert Config.from_dict(st['config']).loss_terms == ('mil_orig', 'mil_supp', 'mutual')
    assert any('squeeze_fc' in k for k in st['model']), 'an SE model has squeeze/excite layers'
    for r in [json.loads(l) for l in (tmp_path/'run'/'metrics.jsonl').read_text().splitlines()]:
        if r['kind'] == 'train':        # total = the three chosen terms (weights 1, 1, alpha4 = 1)
            assert abs(r['loss']['total'] - (r['loss']['mil_orig'] + r['loss']['mil_supp'] + r['loss']['mutual'])) < 1e-5
    out, _ = run('evaluate', tmp_path/'run'/'last.pt', '--device', 'cpu')
    assert 'AVG mAP@0.1:0.7' in out
    _, err = run('train', '--preset', 'demo', '--out', tmp_path/'bad', '--override', 'main_context=medium', expect=2)
    assert 'main_context' in err and 'Traceback' not in err


def test_missing_ambiguous(tmp_path):
    """THUMOS14 annotations without Ambiguous_test.txt: `evaluate` (protocol co2net) is an error, unless
    --missing-ambiguous skip, whose result is labelled as computed without the filter."""
    from co2net.train import get_config, model_from_config, save_checkpoint, seed_everything
    shutil.copytree(ROOT/'data_samples'/'SynThumos-Annotations', tmp_path/'SynThumos-Annotations')
    shutil.copy(ROOT/'data_samples'/'SynThumos-I3D-JOINTFeatures.npy', tmp_path)
    cfg = get_config('thumos14', dataset='SynThumos', data_root=str(tmp_path), device='cpu')
    from co2net.data import load_dataset
    ds = load_dataset(tmp_path, 'SynThumos')
    seed_everything(0)
    save_checkpoint(tmp_path/'m.pt', model=model_from_config(cfg, ds.n_classes, ds.feature_dim), config=cfg, iteration=0,
                    meta={'classes': [str(c) for c in ds.classes], 'n_classes': ds.n_classes, 'feat_dim': ds.feature_dim})
    out, _ = run('evaluate', tmp_path/'m.pt', '--out', tmp_path/'with.json')
    assert 'without Ambiguous' not in out
    (tmp_path/'SynThumos-Annotations'/'Ambiguous_test.txt').unlink()
    _, err = run('evaluate', tmp_path/'m.pt', '--out', tmp_path/'a.json', expect=2)
    assert 'Ambiguous_test.txt' in err and 'Traceback' not in err
    out, _ = run('evaluate', tmp_path/'m.pt', '--out', tmp_path/'a.json', '--missing-ambiguous', 'skip')
    assert 'without Ambiguous filter' in out


def test_lazy_optional_commands(tmp_path):
    """`co2net -h` and other commands never import av, cv2 or ray (nor co2net.sweep); extract/sweep are listed and
    resolved on use. (co2net.features itself is light and lends the CLI its list of video suffixes.)"""
    code = ('import sys; from co2net.cli import run_command; run_command(["-h"]); run_command(["train", "-h"]); '
            'print(sorted(m for m in ("av", "cv2", "ray", "co2net.sweep") if m in sys.modules))')
    p = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, cwd=tmp_path)
    assert p.stdout.strip().splitlines()[-1] == '[]', p.stdout
    assert 'extract' in p.stdout and 'sweep' in p.stdout
    # a missing module or optional dependency is one line naming the extra
    block = 'import sys; sys.modules["co2net.sweep"] = None; from co2net.cli import main; sys.argv = ["co2net", "sweep", "-h"]; main()'
    p = subprocess.run([sys.executable, '-c', block], capture_output=True, text=True, cwd=tmp_path)
    assert p.returncode == 2 and 'pip install "co2net[sweep]"' in p.stderr and 'Traceback' not in p.stderr, p.stderr
    (tmp_path/'a.mp4').write_bytes(b'')   # co2net.features is core; what can be missing is its extra (PyAV, OpenCV)
    block = ('import sys; sys.modules["av"] = sys.modules["cv2"] = None; from co2net.cli import main; '
             'sys.argv = ["co2net", "extract", "a.mp4", "--random-weights", "--out", "feats"]; main()')
    p = subprocess.run([sys.executable, '-c', block], capture_output=True, text=True, cwd=tmp_path)
    assert p.returncode == 2 and 'pip install "co2net[video]"' in p.stderr and 'Traceback' not in p.stderr, p.stderr


def test_extract_positional_videos():
    pytest.importorskip('co2net.features')
    from co2net.cli import command_function, POSITIONAL
    from fastcore.script import anno_parser
    parser = anno_parser(command_function('extract').__wrapped__, prog='co2net extract', pos=POSITIONAL['extract'])
    args = parser.parse_args(['a.mp4', 'b.avi', '--out', 'feats'])
    assert args.videos == ['a.mp4', 'b.avi']
