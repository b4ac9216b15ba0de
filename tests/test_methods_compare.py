"""The comparison of CO2-Net, DELU and DDG-Net (bench/methods_compare.py), the small DELU / DDG-Net demo models
(bench/make_demo_model.py --method, data_samples/demo_model_{delu,ddgnet}.pt) and the wall-time script
(bench/methods_speed.py). Everything here is on synthetic data."""
import json, math, sys
from pathlib import Path
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT/'bench'))
import methods_compare as mc
import methods_speed as ms
from make_demo_model import demo_method_fields, demo_method_config, default_out
from co2net.model import CO2Net, DDGNet
from co2net.example import demo_model, demo_meta, demo_config, demo_scores

HEAD = mc.HEADLINE

def test_method_fields_are_the_published_thumos14_loss_weights():
    # DELU_SPEC / DDGNET_SPEC section 2: alpha2 0.4, alpha_edl 1.3 (THUMOS14 scripts), DDG-Net alpha5 3.2; the rest as the defaults
    assert demo_method_fields('co2net') == {}
    assert demo_method_fields('delu') == {'method': 'delu', 'alpha2': 0.4, 'alpha_edl': 1.3}
    assert demo_method_fields('ddgnet') == {'method': 'ddgnet', 'alpha2': 0.4, 'alpha_edl': 1.3, 'alpha5': 3.2}
    cfg = demo_method_config('ddgnet')
    assert (cfg.preset, cfg.lr, cfg.max_iter, cfg.max_seqlen, cfg.seed, cfg.selection) == ('demo', 3e-3, 600, 100, 0, 'validation')
    assert default_out('co2net').name == 'demo_model.pt' and default_out('delu').name == 'demo_model_delu.pt'
    with pytest.raises(ValueError, match="unknown method 'delux'"): demo_method_fields('delux')

def _records(values: dict) -> dict:
    "{method: {seed: record}} with the headline value and per-threshold values (headline + t) of each run."
    return {m: {s: {'metrics': {HEAD: v, **{f'mAP@{t:g}': v + t for t in mc.THRESHOLDS}}, 'seconds': 10. * (1 + i),
                    'data': 'synthetic demo data', 'data_digest': 'abc'} for s, v in seeds.items()}
            for i, (m, seeds) in enumerate(values.items())}

def test_summary_paired_differences_by_hand():
    recs = {'demo': _records({'co2net': {0: 50., 1: 52., 2: 54.}, 'delu': {0: 51., 1: 55., 2: 53.},
                              'ddgnet': {0: 60., 1: 60.4, 2: 61.2}})}
    s = mc.summarize(recs, None)['demo']
    co2, delu = s['methods']['co2net'], s['methods']['delu']
    assert (co2['mean'], co2['std']) == (52., 2.) and delu['values'] == [51., 55., 53.]
    assert math.isclose(co2['per_threshold']['0.5']['mean'], 52.5)
    p = s['paired']['delu']                           # diffs 1, 3, -1: mean 1, sample std 2; t(0.975, 2) = 4.303
    assert p['diffs'] == [1., 3., -1.] and math.isclose(p['mean'], 1.) and math.isclose(p['std'], 2.)
    assert math.isclose(p['ci95'][0], 1 - 4.303 * 2 / math.sqrt(3)) and math.isclose(p['ci95'][1], 1 + 4.303 * 2 / math.sqrt(3))
    assert p['higher'] == 2 and p['within_seed_spread'] and p['interval_contains_0']
    assert 'within the seed spread, no difference can be claimed' in mc.verdict(p, 'delu')
    q = s['paired']['ddgnet']                         # diffs 10, 8.4, 7.2: a clear lead, larger than any seed spread
    assert [round(d, 6) for d in q['diffs']] == [10., 8.4, 7.2] and q['higher'] == 3
    assert not q['within_seed_spread'] and not q['interval_contains_0']
    assert 'exceeds the seed spread' in mc.verdict(q, 'ddgnet') and 'DDG-Net is 8.5 points above CO2-Net' in mc.verdict(q, 'ddgnet')

def test_summary_pairs_only_common_seeds():
    recs = {'demo': _records({'co2net': {0: 50., 1: 52.}, 'delu': {1: 53., 2: 70.}, 'ddgnet': {0: 50.}})}
    s = mc.summarize(recs, None)['demo']
    assert s['paired']['delu']['seeds'] == [1] and s['paired']['delu']['diffs'] == [1.]
    assert 'fewer than 2 paired seeds' in mc.verdict(s['paired']['delu'], 'delu')

def test_committed_comparison_is_labelled_synthetic_and_consistent():
    res = json.loads((ROOT/'bench'/'results'/'methods_compare.json').read_text())
    md = (ROOT/'bench'/'results'/'methods_compare.md').read_text()
    assert 'synthetic' in md and 'not THUMOS14' in md and 'THUMOS14 features' in md
    for d, s in res['summary'].items():
        runs = {k: r for k, r in res['runs'].items() if k.startswith(d + '/')}
        for m, row in s['methods'].items():     # every mean is the mean of the runs' own records (read independently)
            vals = sorted((r['seed'], r['metrics'][HEAD]) for r in runs.values()
                          if r['status'] == 'done' and (r['point'].get('method') or 'co2net') == m)
            assert [v for _, v in vals] == row['values'] and math.isclose(row['mean'], sum(row['values']) / len(row['values']))
        for m, p in s['paired'].items():
            assert p['diffs'] == [a - b for a, b in zip(s['methods'][m]['values'], s['methods']['co2net']['values'])]

@pytest.mark.parametrize('method,cls,n_params', [('delu', CO2Net, 34_999), ('ddgnet', DDGNet, 31_031)])
def test_shipped_method_demo_models(method, cls, n_params):
    path = ROOT/'data_samples'/f'demo_model_{method}.pt'
    assert path.exists() and path.stat().st_size < 400_000
    model = demo_model(path)
    assert type(model) is cls and not model.training and sum(p.numel() for p in model.parameters()) == n_params
    cfg = demo_config(path)
    assert cfg.to_dict() == demo_method_config(method).to_dict()          # what make_demo_model writes
    assert demo_meta(path)['recipe'] == f'python bench/make_demo_model.py --method {method}'
    # the same config and seed trained by the comparison's sweep (another driver, data in memory) gives the same model
    res = json.loads((ROOT/'bench'/'results'/'methods_compare.json').read_text())
    seed0 = next(r for k, r in res['runs'].items() if k.startswith('demo/') and r['seed'] == 0
                 and (r['point'].get('method') or 'co2net') == method)
    assert math.isclose(100 * demo_scores(model).headline()[1], seed0['metrics'][HEAD], abs_tol=1e-6)

def test_ddgnet_parameter_count_by_hand():
    # D = 32 per modality, attention width 16, classifier width 64, C = 20: graph 8(D^2 + D), attention units
    # 2[(3*32*16 + 16) + (3*16*16 + 16) + (16 + 1)], fusion 64^2 + 64, classifier 3*64*64 + 64 + 64*21 + 21
    hand = 8 * (32 ** 2 + 32) + 2 * ((3 * 32 * 16 + 16) + (3 * 16 * 16 + 16) + 17) + (64 ** 2 + 64) + (3 * 64 * 64 + 64 + 64 * 21 + 21)
    r = ms.measure('ddgnet', 'demo', 1, torch.device('cpu'), 320)
    assert r['params'] == hand == 31_031 and r['train_s'] > 0 and r['infer_s'] > 0 and (r['B'], r['T'], r['2D']) == (10, 100, 64)
    x, y = ms.random_batch(10, 7, 4, 20)
    assert x.shape == (10, 7, 4) and (y.sum(1) == 1).all() and all(torch.equal(y[2 * p], y[2 * p + 1]) for p in range(3))

def test_methods_compare_end_to_end_tiny(tmp_path):
    "A tiny run of the script (4 iterations, 2 seeds, the demo data only): its table equals the run folders' results."
    mc.main(['--seeds', '0', '1', '--data', 'demo', '--runs', str(tmp_path/'runs'), '--out', str(tmp_path/'out'),
             '--backend', 'local', '--override', 'max_iter=4', 'eval_interval=2', 'synthetic.n_videos=80'])
    res = json.loads((tmp_path/'out'/'methods_compare.json').read_text())
    md = (tmp_path/'out'/'methods_compare.md').read_text()
    assert 'Changed for this run: `max_iter=4`' in md and 'not THUMOS14' in md
    points = json.loads((tmp_path/'runs'/'demo'/'points.json').read_text())
    assert [p['method'] for p in points] == ['co2net', 'delu', 'ddgnet']
    def folder_score(method, seed):                  # straight from the run folder's results.json
        name = mc.sweep.point_name({k: v for k, v in next(p for p in points if p['method'] == method).items()
                                    if not (k == 'method' and v == 'co2net')})
        r = json.loads((tmp_path/'runs'/'demo'/name/f'seed_{seed}'/'results.json').read_text())
        return r['results'][r['selection']]['headline_pct']
    s = res['summary']['demo']
    for m in ('delu', 'ddgnet'):
        assert s['paired'][m]['diffs'] == [folder_score(m, k) - folder_score('co2net', k) for k in (0, 1)]
    assert res['meta']['n_failed'] == 0 and res['meta']['seeds'] == {'demo': [0, 1]}
