"""DELU and DDG-Net through the same public path as CO2-Net (issue 20): the presets hold the published settings, one
config field switches the method, `loss_from_config` dispatches to the method's criterion, and the command line trains,
resumes bit for bit after `kill -9`, refuses bad input, and detects with official checkpoints of either method."""
import json, os, signal, subprocess, sys, time
from pathlib import Path
import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT/'data_samples'/'i3d_real'
SYN = {'n_videos': 24, 'feature_dim': 16, 'n_classes': 4, 'seed': 0, 'duration': [10., 30.]}
TINY = [f'synthetic={json.dumps(SYN)}', 'dataset=demo', 'data_root=', 'max_seqlen=32', 'batch_size=6', 'n_pairs=2',
        'eval_interval=2', 'log_every=1', 'num_threads=1']
MAIN = [sys.executable, '-c', 'import sys; from co2net.cli import main; sys.argv[0] = "co2net"; main()']
ENV = {**os.environ, 'PYTHONUNBUFFERED': '1', 'OMP_NUM_THREADS': '1'}

# The published settings, written out from the official training scripts (DELU_SPEC §2, DDGNET_SPEC §2), not from PRESETS.
PUBLISHED = {
    'delu-thumos14': dict(method='delu', seed=0, lr=5e-5, weight_decay=1e-3, max_seqlen=320, topk_ratio=7, edl_ratio=9,
                          max_iter=5000, eval_interval=50, alpha1=0.8, alpha2=0.4, alpha3=1.0, alpha4=1.0, alpha_edl=1.3,
                          alpha_uct=0.4, amplitude=0.7, smooth=False, family='thumos14'),
    'delu-activitynet12': dict(method='delu', seed=0, lr=3e-5, weight_decay=5e-4, max_seqlen=60, topk_ratio=5, edl_ratio=5,
                               max_iter=22000, eval_interval=20, alpha1=0.8, alpha2=0.8, alpha3=1.0, alpha4=1.0,
                               alpha_edl=1.2, alpha_uct=0.2, amplitude=0.2, smooth=True, pool_t=5, family='activitynet12'),
    'ddgnet-thumos14': dict(method='ddgnet', seed=0, lr=5e-5, weight_decay=1e-3, max_seqlen=320, topk_ratio=7, edl_ratio=9,
                            max_iter=5000, eval_interval=50, alpha1=0.8, alpha2=0.4, alpha3=1.0, alpha4=1.0, alpha_edl=1.3,
                            alpha_uct=0.4, amplitude=0.7, alpha5=3.2, alpha6=1.0, feature_weight=0.5, temperature=0.5,
                            action_threshold=0.5, background_threshold=0.5, similarity_threshold=0.8, graph_topk_ratio=10,
                            smooth=False, family='thumos14'),
    'ddgnet-activitynet12': dict(method='ddgnet', seed=0, lr=3e-5, weight_decay=5e-4, max_seqlen=60, topk_ratio=5,
                                 edl_ratio=5, max_iter=22000, eval_interval=200, alpha1=0.8, alpha2=0.8, alpha3=1.0,
                                 alpha4=1.0, alpha_edl=1.2, alpha_uct=0.2, amplitude=0.2, alpha5=1.7, alpha6=0.5,
                                 feature_weight=0.5, temperature=0.5, action_threshold=0.5, background_threshold=0.5,
                                 similarity_threshold=0.8, graph_topk_ratio=10, smooth=True, pool_t=5, family='activitynet12'),
}


@pytest.mark.parametrize('preset', sorted(PUBLISHED))
def test_presets_hold_the_published_settings(preset):
    from co2net import get_config
    from co2net.losses import DELU_LOSS_TERMS, DDGNET_LOSS_TERMS
    cfg = get_config(preset)
    assert {k: getattr(cfg, k) for k in PUBLISHED[preset]} == PUBLISHED[preset]
    assert (cfg.batch_size, cfg.n_pairs, cfg.class_threshold, cfg.gamma, cfg.selection) == (10, 3, 0.2, 0.2, 'validation')
    assert cfg.loss_terms == (DELU_LOSS_TERMS if cfg.method == 'delu' else DDGNET_LOSS_TERMS)


def test_method_switch_in_one_line():
    "One field switches the network and the criterion; the preset's 'every term' follows the switch."
    from co2net import get_config, model_from_config
    from co2net.model import CO2Net, DDGNet
    from co2net.losses import LOSS_TERMS, DELU_LOSS_TERMS
    assert type(model_from_config(get_config('demo', method='ddgnet'), 5, 64)) is DDGNet
    assert type(model_from_config(get_config('demo', method='delu'), 5, 64)) is CO2Net
    assert get_config('demo', method='delu').loss_terms == DELU_LOSS_TERMS
    assert get_config('delu-thumos14').override(['method=co2net']).loss_terms == LOSS_TERMS
    assert get_config('delu-thumos14', loss_terms='edl,mil_orig').loss_terms == ('edl', 'mil_orig')
    with pytest.raises(ValueError, match="unknown terms \\['edl'\\] for method 'co2net'"): get_config('demo', loss_terms='edl,mil_orig')
    with pytest.raises(ValueError, match="method='ddgnet' replaces the CCMs"): get_config('ddgnet-thumos14', fusion='se')
    with pytest.raises(ValueError, match='method=.*must be one of'): get_config('demo', method='delu2')


@pytest.mark.parametrize('preset', ['delu-thumos14', 'ddgnet-thumos14', 'delu-activitynet12', 'ddgnet-activitynet12'])
def test_loss_from_config_is_the_method_criterion(preset):
    "The config's criterion equals the method's criterion called by hand with the preset's values, term by term."
    from co2net import get_config, model_from_config
    from co2net.config import loss_from_config
    from co2net.losses import delu_loss, ddgnet_loss
    cfg = get_config(preset, max_seqlen=40, max_iter=100)
    torch.manual_seed(0)
    model = model_from_config(cfg, 4, 64).train()
    x, y = torch.randn(8, 40, 64), torch.eye(4)[[0, 0, 1, 1, 2, 2, 3, 0]]
    torch.manual_seed(1); out = model(x)
    got = loss_from_config(out, y, cfg, iteration=37)
    kw = dict(iteration=37, max_iter=100, n_pairs=3, topk_ratio=cfg.topk_ratio, edl_ratio=cfg.edl_ratio, alpha2=cfg.alpha2,
              alpha_edl=cfg.alpha_edl, alpha_uct=cfg.alpha_uct, amplitude=cfg.amplitude, anet=cfg.family == 'activitynet12')
    want = (delu_loss(out, y, **kw) if cfg.method == 'delu' else ddgnet_loss(out, y, **kw, alpha5=cfg.alpha5, alpha6=cfg.alpha6))
    assert set(got) == set(want) and {'edl', 'uct_guide', 'weighted_edl', 'total'} <= set(got)
    for k in want: assert torch.equal(got[k], want[k]), k
    with pytest.raises(ValueError, match='pass iteration='): loss_from_config(out, y, cfg)


def test_co2net_loss_from_config_reports_weighted_terms():
    from co2net import get_config, model_from_config
    from co2net.config import loss_from_config
    from co2net.losses import LOSS_TERMS
    cfg = get_config('demo')
    torch.manual_seed(0); out = model_from_config(cfg, 4, 64)(torch.randn(6, 20, 64))
    t = loss_from_config(out, torch.eye(4)[[0, 0, 1, 1, 2, 3]], cfg)
    w = {'mil_orig': 1, 'mil_supp': 1, 'coactivity': 1.0, 'mutual': 1.0, 'norm': 0.8, 'guide': 0.8}   # Eq. 10, demo alphas
    for k in LOSS_TERMS: assert torch.allclose(t[f'weighted_{k}'], w[k] * t[k])
    assert torch.allclose(t['total'], sum(w[k] * t[k] for k in LOSS_TERMS))


def _train(out, preset, max_iter, *extra, check=True):
    cmd = [*MAIN, 'train', '--preset', preset, '--out', str(out), '--device', 'cpu', '--override', *TINY,
           f'max_iter={max_iter}', *extra]
    p = subprocess.run(cmd, cwd=out.parent, capture_output=True, text=True, env=ENV, timeout=600)
    if check: assert p.returncode == 0, p.stderr
    return p


@pytest.mark.parametrize('preset', ['delu-thumos14', 'ddgnet-thumos14'])
def test_cli_trains_and_resumes_bit_for_bit_after_kill_9(tmp_path, preset):
    "kill -9 in the middle of a run; `--resume last.pt` ends with exactly the weights and losses of an uninterrupted run."
    from co2net.runs import load_checkpoint, read_metrics
    n = 40
    _train(tmp_path/'whole', preset, n)
    recs = read_metrics(tmp_path/'whole'/'metrics.jsonl')
    assert {'edl', 'uct_guide'} <= set(recs[0]['loss'])
    assert json.loads((tmp_path/'whole'/'results.json').read_text())['config']['method'] == preset.split('-')[0]
    cmd = [*MAIN, 'train', '--preset', preset, '--out', str(tmp_path/'cut'), '--device', 'cpu', '--override', *TINY, f'max_iter={n}']
    proc = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)
    try:
        t0 = time.time()
        while not (tmp_path/'cut'/'last.pt').exists() and proc.poll() is None and time.time() - t0 < 300: time.sleep(0.01)
        proc.send_signal(signal.SIGKILL); proc.wait(timeout=60)
    finally:
        if proc.poll() is None: proc.kill()
    killed_at = load_checkpoint(tmp_path/'cut'/'last.pt')['iteration']
    assert 0 < killed_at < n, f'the run was not cut (last.pt at iteration {killed_at} of {n})'
    assert (tmp_path/'cut'/'.co2net.lock').exists()           # kill -9 leaves the lock file behind
    p = subprocess.run([*MAIN, 'train', '--resume', str(tmp_path/'cut'/'last.pt')], cwd=tmp_path, capture_output=True,
                       text=True, env=ENV, timeout=600)
    assert p.returncode == 0, p.stderr
    assert 'took over the lock' in p.stderr
    a, b = load_checkpoint(tmp_path/'whole'/'last.pt'), load_checkpoint(tmp_path/'cut'/'last.pt')
    assert a['iteration'] == b['iteration'] == n
    for k in a['model']: assert torch.equal(a['model'][k], b['model'][k]), k
    loss = lambda d: [(r['iter'], r['loss']) for r in read_metrics(d/'metrics.jsonl') if r['kind'] == 'train']
    assert loss(tmp_path/'whole') == loss(tmp_path/'cut')


@pytest.mark.parametrize('bad, message', [
    ('edl_ratio=0', 'edl_ratio=0: must be > 0'),
    ('alpha_uct=-1', 'alpha_uct=-1.0: must be >= 0'),
    ('method=graph', "method='graph': must be one of"),
    ('loss_terms=edl,complementary', "unknown terms ['complementary'] for method 'delu'"),
    ('background_threshold=0.7', 'background_threshold=0.7 > action_threshold=0.5'),
])
def test_cli_refuses_bad_successor_settings(tmp_path, bad, message):
    preset = 'ddgnet-thumos14' if 'threshold' in bad else 'delu-thumos14'
    p = _train(tmp_path/'run', preset, 4, bad, check=False)
    assert p.returncode == 2 and message in p.stderr, (p.returncode, p.stderr)
    assert not (tmp_path/'run').exists()


def test_detect_with_official_successor_checkpoints(tmp_path):
    "`co2net detect --official ddgnet-thumos14 / delu-thumos14` on a real I3D feature file, with official-layout state dicts."
    from co2net.model import DDGNet, CO2Net, to_official_state_dict
    from co2net.data import THUMOS14_CLASSES
    torch.manual_seed(0)
    torch.save(DDGNet(n_classes=20).official_state_dict(), tmp_path/'best_Thumos14.pkl')
    torch.save(to_official_state_dict(CO2Net(n_classes=20)), tmp_path/'best_delu_thumos.pkl')
    for ck, preset in (('best_Thumos14.pkl', 'ddgnet-thumos14'), ('best_delu_thumos.pkl', 'delu-thumos14')):
        out = tmp_path/f'{preset}.json'
        p = subprocess.run([*MAIN, 'detect', str(tmp_path/ck), str(REAL/'highjump.npy'), '--official', preset, '--out', str(out),
                            '--device', 'cpu'], cwd=tmp_path, capture_output=True, text=True, env=ENV, timeout=300)
        assert p.returncode == 0, p.stderr
        dets = json.loads(out.read_text())['results']['highjump']
        assert dets and {d['label'] for d in dets} <= set(THUMOS14_CLASSES)
    # a DDG-Net file read as CO2-Net (and the other way round) is refused, naming the keys
    p = subprocess.run([*MAIN, 'detect', str(tmp_path/'best_Thumos14.pkl'), str(REAL/'highjump.npy'), '--official', 'delu-thumos14',
                        '--out', str(tmp_path/'x.json'), '--device', 'cpu'], cwd=tmp_path, capture_output=True, text=True, env=ENV)
    assert p.returncode != 0 and 'best_Thumos14.pkl' in p.stderr and 'Traceback' not in p.stderr, p.stderr
    assert not (tmp_path/'x.json').exists()


def test_testers_of_delu_and_ddgnet_are_config_options():
    "DELU's 2024 tester and DDG-Net's 210-video list are opt-in settings; the defaults are the official CO2-Net tester."
    import numpy as np
    from co2net import get_config
    from co2net.config import FIELD_CHOICES
    from co2net.localize import OFFICIAL_THRESHOLDS
    from co2net.predict import localization_settings, TEST_VIDEO_LISTS, attention_thresholds
    assert FIELD_CHOICES['test_videos'] == TEST_VIDEO_LISTS
    for preset in PUBLISHED:
        s = localization_settings(get_config(preset))
        assert s['thresholds'] == OFFICIAL_THRESHOLDS and s['min_snippets'] == 1 and get_config(preset).test_videos == 'all'
    s = localization_settings(get_config('delu-thumos14', n_thresholds=20, min_detection_snippets=2))
    assert s['thresholds'] == tuple(np.linspace(0.1, 0.9, 20).tolist()) == attention_thresholds(20) and s['min_snippets'] == 2
    with pytest.raises(ValueError, match="test_videos='ddg': must be one of"): get_config('ddgnet-thumos14', test_videos='ddg')
    with pytest.raises(ValueError, match='n_thresholds=0: must be > 0'): get_config('delu-thumos14', n_thresholds=0)
