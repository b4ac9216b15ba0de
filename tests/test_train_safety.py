"""Safety of training runs (issue 12) and the training side of issue 13: interrupts, checkpoint writes, resume
checks, config fields. Tiny configurations; the subprocess tests are the ones where the process itself matters."""
import json, os, signal, subprocess, sys, time, warnings
from pathlib import Path
import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SYN = {'n_videos': 24, 'feature_dim': 16, 'n_classes': 4, 'seed': 0, 'duration': [10., 30.]}
TINY = dict(synthetic=SYN, max_seqlen=32, batch_size=6, n_pairs=2, max_iter=6, eval_interval=3, log_every=1,
            device='cpu', progress=False)


@pytest.fixture(scope='module')
def tiny_ds(tmp_path_factory):
    from co2net.train import get_config, make_dataset
    return make_dataset(get_config('demo', out_dir=str(tmp_path_factory.mktemp('tiny_data')), **TINY))


def cfg_in(folder, **kw):
    from co2net.train import get_config
    return get_config('demo', out_dir=str(folder), **{**TINY, **kw})


# ---------------------------------------------------------------- interrupts and checkpoint writes

def test_sigterm_keeps_last_checkpoint_and_exits_143(tmp_path):
    "SIGTERM while training: exit 143, a message naming the kept checkpoint, no temporary file; resume finishes the run."
    from co2net.train import load_checkpoint
    over = [f'synthetic={json.dumps(SYN)}', 'max_seqlen=32', 'batch_size=6', 'n_pairs=2', 'max_iter=100000',
            'eval_interval=2', 'log_every=1']
    cmd = [sys.executable, '-c', 'import sys; from co2net.cli import main; sys.argv[0] = "co2net"; main()',
           'train', '--preset', 'demo', '--out', str(tmp_path/'run'), '--device', 'cpu', '--override', *over]
    env = {**os.environ, 'PYTHONUNBUFFERED': '1', 'OMP_NUM_THREADS': '1'}
    proc = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        t0 = time.time()
        while not (tmp_path/'run'/'last.pt').exists() and time.time() - t0 < 120 and proc.poll() is None: time.sleep(0.05)
        assert (tmp_path/'run'/'last.pt').exists(), 'no checkpoint appeared'
        time.sleep(0.3)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None: proc.kill()
    assert proc.returncode == 143, (proc.returncode, err)
    assert 'interrupted' in err and 'SIGTERM' in err and f"kept {tmp_path/'run'/'last.pt'}" in err and 'Traceback' not in err, err
    assert list((tmp_path/'run').glob('.*.tmp')) == []
    it = load_checkpoint(tmp_path/'run'/'last.pt')['iteration']
    assert it >= 2
    p = subprocess.run([*cmd[:3], 'train', '--resume', str(tmp_path/'run'/'last.pt'), '--max-iter', str(it + 2)],
                       cwd=tmp_path, capture_output=True, text=True, env=env, timeout=300)
    assert p.returncode == 0, p.stderr
    assert load_checkpoint(tmp_path/'run'/'last.pt')['iteration'] == it + 2


def test_disk_full_while_writing_checkpoint(tmp_path):
    "A write that fails (file size limit: EFBIG, as a full disk): one OSError naming the path; old file and no temp file."
    code = f'''
import resource, signal, torch
from pathlib import Path
from co2net.train import get_config, save_checkpoint
d = Path({str(tmp_path)!r}); cfg = get_config('demo')
meta = {{'classes': ['a', 'b'], 'n_classes': 2, 'feat_dim': 4}}
save_checkpoint(d/'last.pt', model=torch.nn.Linear(4, 2), config=cfg, iteration=1, meta=meta)
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (2000, 2000))
try: save_checkpoint(d/'last.pt', model=torch.nn.Linear(400, 200), config=cfg, iteration=2, meta=meta)
except OSError as e: print('OSError:', e)
'''
    p = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert f"could not write checkpoint {tmp_path/'last.pt'}" in p.stdout and 'previous file is unchanged' in p.stdout, p.stdout
    from co2net.train import load_checkpoint
    assert load_checkpoint(tmp_path/'last.pt')['iteration'] == 1
    assert list(tmp_path.glob('.*.tmp')) == []


def test_checkpoint_mode_follows_umask(tmp_path):
    from co2net.train import get_config, save_checkpoint
    old = os.umask(0o022)
    try:
        p = save_checkpoint(tmp_path/'c.pt', model=torch.nn.Linear(2, 2), config=get_config('demo'), iteration=0,
                            meta={'classes': ['a', 'b'], 'n_classes': 2, 'feat_dim': 2})
    finally: os.umask(old)
    assert p.stat().st_mode & 0o777 == 0o644


def test_numpy_class_names_are_stored_plain(tmp_path):
    "np.str_ class names (what load_annotations returns) would make a file weights_only refuses; they are stored as str."
    from co2net.train import get_config, save_checkpoint, load_checkpoint
    from co2net.data import load_annotations
    classes = load_annotations(ROOT/'data_samples'/'SynThumos-Annotations').classes
    meta = {'classes': list(np.asarray(classes)), 'n_classes': np.int64(len(classes)), 'feat_dim': np.int64(4)}
    save_checkpoint(tmp_path/'c.pt', model=torch.nn.Linear(4, 2), config=get_config('demo'), iteration=np.int64(3), meta=meta)
    st = torch.load(tmp_path/'c.pt', weights_only=True)
    assert st['meta']['classes'] == [str(c) for c in classes] and all(type(c) is str for c in st['meta']['classes'])
    assert load_checkpoint(tmp_path/'c.pt')['iteration'] == 3


def test_checkpoint_meta_and_config_type_errors(tmp_path):
    from co2net.train import get_config, save_checkpoint, load_checkpoint
    meta = {'classes': ['a', 'b'], 'n_classes': 2, 'feat_dim': 4}
    p = save_checkpoint(tmp_path/'c.pt', model=torch.nn.Linear(4, 2), config=get_config('demo'), iteration=1, meta=meta)
    st = torch.load(p, weights_only=True)
    for name, bad, shown in [('nometa.pt', {**st, 'meta': {'n_classes': 2, 'feat_dim': 4}}, 'meta.classes'),
                             ('count.pt', {**st, 'meta': {**meta, 'n_classes': 3}}, 'meta.n_classes=3'),
                             ('cfg.pt', {**st, 'config': {**st['config'], 'gamma': 'high'}}, "gamma='high'"),
                             ('cfg2.pt', {**st, 'config': {**st['config'], 'batch_size': 2.5}}, 'batch_size=2.5')]:
        torch.save(bad, tmp_path/name)
        with pytest.raises(ValueError, match=shown.replace('.', r'\.').replace('(', r'\(')) as e: load_checkpoint(tmp_path/name)
        assert name in str(e.value)


# ---------------------------------------------------------------- run folder and resume

def test_stale_temp_files_removed_at_start_and_resume(tmp_path, tiny_ds):
    from co2net.train import train
    cfg = cfg_in(tmp_path/'run')
    (tmp_path/'run').mkdir(); (tmp_path/'run'/'.last.pt.1.dead.tmp').write_bytes(b'x' * 100)
    train(cfg, dataset=tiny_ds, stop_at=3, verbose=False)
    assert list((tmp_path/'run').glob('.*.tmp')) == []
    (tmp_path/'run'/'.best.pt.2.dead.tmp').write_bytes(b'x' * 100)
    train(cfg, dataset=tiny_ds, resume=tmp_path/'run'/'last.pt', verbose=False)
    assert list((tmp_path/'run').glob('.*.tmp')) == []


def test_torn_metrics_line_dropped_on_resume(tmp_path, tiny_ds):
    from co2net.train import train, read_metrics
    cfg = cfg_in(tmp_path/'run')
    train(cfg, dataset=tiny_ds, stop_at=3, verbose=False)
    with open(tmp_path/'run'/'metrics.jsonl', 'a') as f: f.write('{"kind": "train", "it')
    with pytest.warns(UserWarning, match='torn last line'):
        train(cfg, dataset=tiny_ds, resume=tmp_path/'run'/'last.pt', verbose=False)
    assert [r['iter'] for r in read_metrics(tmp_path/'run'/'metrics.jsonl') if r['kind'] == 'train'] == [1, 2, 3, 4, 5, 6]


def test_checkpoint_records_threads_and_device_and_warns(tmp_path, tiny_ds):
    from co2net.train import train, load_checkpoint
    cfg = cfg_in(tmp_path/'run')
    train(cfg, dataset=tiny_ds, stop_at=3, verbose=False)
    st = load_checkpoint(tmp_path/'run'/'last.pt')
    assert st['meta']['threads'] == torch.get_num_threads() and st['meta']['device'] == 'cpu'
    st['meta']['threads'] = torch.get_num_threads() + 3
    torch.save(st, tmp_path/'run'/'last.pt')
    with pytest.warns(UserWarning, match=f"CPU threads {torch.get_num_threads() + 3}, this run uses {torch.get_num_threads()}"):
        train(cfg, dataset=tiny_ds, resume=tmp_path/'run'/'last.pt', verbose=False)


def _synthumos(folder):
    "A copy of the committed SynThumos sample (real THUMOS14 names and classes, synthetic features) in `folder`."
    import shutil
    shutil.copytree(ROOT/'data_samples'/'SynThumos-Annotations', folder/'SynThumos-Annotations')
    shutil.copy(ROOT/'data_samples'/'SynThumos-I3D-JOINTFeatures.npy', folder)
    return folder


def test_resume_from_moved_data_folder(tmp_path):
    "Data moved to another folder: the resume is allowed (content digest matches) and ends bit-identical; changed data is refused."
    import shutil
    from co2net.train import train, load_checkpoint, get_config
    small = dict(max_seqlen=32, batch_size=6, n_pairs=2, max_iter=6, eval_interval=3, log_every=1, device='cpu', progress=False)
    cfg = lambda out, root: get_config('thumos14', dataset='SynThumos', data_root=str(root), out_dir=str(out), **small)
    for d in ('d0', 'd1', 'd3'): (tmp_path/d).mkdir(); _synthumos(tmp_path/d)
    train(cfg(tmp_path/'full', tmp_path/'d0'), verbose=False)
    train(cfg(tmp_path/'run', tmp_path/'d1'), stop_at=3, verbose=False)
    shutil.move(tmp_path/'d1', tmp_path/'d2')
    train(cfg(tmp_path/'run', tmp_path/'d2'), resume=tmp_path/'run'/'last.pt', verbose=False)
    a, b = load_checkpoint(tmp_path/'full'/'last.pt')['model'], load_checkpoint(tmp_path/'run'/'last.pt')['model']
    assert all(torch.equal(a[k], b[k]) for k in a)
    # the same files with one value changed: refused, naming the checkpoint
    train(cfg(tmp_path/'run3', tmp_path/'d3'), stop_at=3, verbose=False)
    feats = tmp_path/'d3'/'SynThumos-I3D-JOINTFeatures.npy'
    x = np.load(feats, allow_pickle=True); x[1] = x[1] + 1; np.save(feats, x, allow_pickle=True)
    with pytest.raises(ValueError, match='trained on other data'):
        train(cfg(tmp_path/'run3', tmp_path/'d3'), resume=tmp_path/'run3'/'last.pt', verbose=False)


def test_overwrite_replaces_whole_run(tmp_path, tiny_ds):
    from co2net.train import train
    cfg = cfg_in(tmp_path/'run')
    train(cfg, dataset=tiny_ds, verbose=False)
    (tmp_path/'run'/'best_test_co2net_detections.json').write_text('{}')      # what `co2net evaluate` adds
    with pytest.raises(FileExistsError, match='not empty'): train(cfg, dataset=tiny_ds, verbose=False)
    train(cfg.override({'selection': 'last'}), dataset=tiny_ds, verbose=False, overwrite=True)
    assert sorted(p.name for p in (tmp_path/'run').iterdir()) == ['config.json', 'curve.png', 'last.pt', 'metrics.jsonl',
                                                                  'results.json', 'test_detections.json']


def test_empty_validation_split_is_an_error_before_training(tmp_path):
    from co2net.train import train
    cfg = cfg_in(tmp_path/'run', synthetic={'n_videos': 40}, max_iter=600)
    t0 = time.time()
    with pytest.raises(ValueError, match='validation split is empty'): train(cfg, verbose=False)
    assert not (tmp_path/'run'/'metrics.jsonl').exists()


# ---------------------------------------------------------------- config fields of issue 13

def test_config_numeric_ranges():
    from co2net.train import get_config
    for bad in [dict(class_threshold=float('nan')), dict(class_threshold=5.0), dict(gamma=-5.0), dict(alpha1=float('nan')),
                dict(alpha3=float('inf')), dict(lr=-1e-3), dict(weight_decay=float('nan')), dict(val_fraction=-0.1),
                dict(topk_ratio=0), dict(eval_interval=0), dict(pool_t=0), dict(n_pairs=-1)]:
        (k, v), = bad.items()
        with pytest.raises(ValueError, match=k): get_config('thumos14', **bad)


def test_init_official_reaches_the_model():
    "Config init='official' builds the model with the official code's initial weights (same seed, same draws)."
    from co2net.train import get_config, model_from_config
    from co2net.model import CO2Net
    torch.manual_seed(3); a = model_from_config(get_config('demo', init='official'), 5, 64).state_dict()
    torch.manual_seed(3); b = CO2Net(n_classes=5, feat_dim=64, init='official').state_dict()
    torch.manual_seed(3); c = model_from_config(get_config('demo'), 5, 64).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)
    with pytest.raises(ValueError, match='init'): get_config('demo', init='xavier')


def test_missing_ambiguous_field_is_passed_on():
    "Config missing_ambiguous goes to evaluate_protocol: without Ambiguous_test.txt, 'error' raises and 'skip' labels."
    import tempfile
    from co2net.train import get_config, evaluate_split, model_from_config, seed_everything
    from co2net.data import load_dataset
    with tempfile.TemporaryDirectory() as d:
        d = _synthumos(Path(d))
        (d/'SynThumos-Annotations'/'Ambiguous_test.txt').unlink()
        ds = load_dataset(d, 'SynThumos')
        seed_everything(0); model = model_from_config(get_config('thumos14'), ds.n_classes, ds.feature_dim)
        with pytest.raises(FileNotFoundError, match='Ambiguous_test.txt'):
            evaluate_split(model, ds, 'test', get_config('thumos14'))
        res, _ = evaluate_split(model, ds, 'test', get_config('thumos14', missing_ambiguous='skip'))
        assert 'without Ambiguous filter' in res.protocol_label
        # training checks it before the first iteration, not at the first evaluation
        from co2net.train import train
        small = dict(dataset='SynThumos', data_root=str(d), out_dir=str(d/'run'), max_seqlen=32, batch_size=6, n_pairs=2,
                     max_iter=4, eval_interval=2, device='cpu', progress=False)
        with pytest.raises(FileNotFoundError, match='Ambiguous_test.txt'): train(get_config('thumos14', **small), verbose=False)
        assert not (d/'run').exists()
        run = train(get_config('thumos14', missing_ambiguous='skip', **small), verbose=False)
        assert 'without Ambiguous filter' in json.loads((d/'run'/'results.json').read_text())['results']['last']['protocol_label']


def test_official_protocol_trains_on_all_training_videos(tmp_path, tiny_ds):
    "selection='test' with val_fraction=0 (the paper's protocol) trains on every training video; the default holds some out."
    from co2net.train import train
    r_test = train(cfg_in(tmp_path/'t', selection='test', val_fraction=0.0), dataset=tiny_ds, verbose=False)
    r_val = train(cfg_in(tmp_path/'v'), dataset=tiny_ds, verbose=False)
    rt, rv = (json.loads((tmp_path/x/'results.json').read_text()) for x in ('t', 'v'))
    assert rt['train_videos'] == len(tiny_ds.train_idx) and rv['train_videos'] == len(tiny_ds.fit_idx) < len(tiny_ds.train_idx)
    assert rt['selection'] == 'test (official, optimistic)'


def test_classification_map_logged_matches_independent_computation(tmp_path, tiny_ds):
    "The logged classification mAP equals the official tester's: softmax over C+1 of the time-max of the T-CAM."
    from co2net.train import train, read_metrics, model_from_config, load_checkpoint, load_model_weights
    from co2net.evaluate import classification_map
    run = train(cfg_in(tmp_path/'run'), dataset=tiny_ds, verbose=False)
    rec = [r for r in read_metrics(tmp_path/'run'/'metrics.jsonl') if r['kind'] == 'eval' and r['iter'] == 6][0]
    st = load_checkpoint(tmp_path/'run'/'last.pt')
    model = load_model_weights(model_from_config(run.config, tiny_ds.n_classes, tiny_ds.feature_dim), st).eval()
    scores = []
    with torch.no_grad():
        for i in tiny_ds.val_idx:
            cas = model(torch.as_tensor(tiny_ds.features(i))[None]).cas[0]            # (T, C+1)
            e = torch.exp(cas.max(0).values - cas.max())
            scores.append((e / e.sum())[:-1].numpy())
    expect = 100 * classification_map(np.stack(scores), tiny_ds.labels[tiny_ds.val_idx])
    assert abs(rec['cls_map_pct'] - expect) < 1e-6
