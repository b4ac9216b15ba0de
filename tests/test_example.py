"""The running example: the shipped demo model scores what the README says, our video is the data set's entry,
and a missing or broken model file gives a one-line error that says how to re-create it.

The expected score lives in one place, the README sentence "The shipped model scores XX.XX AVG mAP@0.1:0.7 on
the synthetic demo test split", which is parsed here.
"""
import re
from pathlib import Path
import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SENTENCE = r'The shipped model scores (\d+\.\d+) AVG mAP@0\.1:0\.7 on the synthetic demo test split'

def readme_score() -> float:
    "The score the README states for the shipped model, in % (words joined by single spaces before matching)."
    text = ' '.join((ROOT/'README.md').read_text().split())
    m = re.search(SENTENCE, text)
    assert m, f'README.md lacks the sentence {SENTENCE!r}'
    return float(m.group(1))

def test_shipped_model_scores_what_the_readme_says():
    from co2net.example import DEMO_MODEL, demo_model, demo_scores
    assert DEMO_MODEL == ROOT/'data_samples'/'demo_model.pt' and DEMO_MODEL.exists()
    assert DEMO_MODEL.stat().st_size < 500_000, 'the shipped model should stay a few hundred kB at most'
    res = demo_scores(demo_model())
    name, avg = res.headline()
    assert name == 'AVG mAP@0.1:0.7' and res.protocol == 'co2net'
    thr = np.asarray(res.thresholds)
    by_hand = float(np.mean([np.mean(res.ap[res.n_gt > 0, k]) for k in np.flatnonzero(thr <= 0.7 + 1e-9)]))
    assert abs(avg - by_hand) < 1e-12                       # the headline is the mean over classes, then thresholds
    assert len(np.flatnonzero(thr <= 0.7 + 1e-9)) == 7 and int(res.n_gt.sum()) > 0
    assert abs(100 * avg - readme_score()) <= 0.1, f'shipped model scores {100 * avg:.2f}, README says {readme_score():.2f}'

def test_shipped_checkpoint_holds_weights_config_and_meta_only():
    from co2net.runs import load_checkpoint, dataset_digest
    from co2net.config import get_config, Config
    from co2net.example import DEMO_MODEL, demo_dataset
    st = load_checkpoint(DEMO_MODEL)
    assert st['optimizer'] is None and st['rng'] is None and st['sampler'] is None
    # the demo preset, unchanged (fields added to Config since the file was written take their defaults)
    assert Config.from_dict(st['config']) == get_config('demo')
    ds = demo_dataset()
    assert st['meta']['classes'] == list(ds.classes)
    assert st['meta']['data_digest'] == dataset_digest(ds)  # trained on exactly the set demo_dataset() generates

def test_our_video_is_the_data_set_entry():
    from co2net.example import OUR_VIDEO, our_video, demo_dataset
    ds, v = demo_dataset(), our_video()
    i = [str(n) for n in ds.names].index(OUR_VIDEO)
    assert v.name == OUR_VIDEO and v.index == i and i in set(ds.test_idx.tolist()) and v.subset == 'test'
    x = ds.features(i)
    assert v.features.dtype == np.float32 and np.array_equal(v.features, x)
    assert np.array_equal(v.rgb, x[:, :x.shape[1] // 2]) and np.array_equal(v.flow, x[:, x.shape[1] // 2:])
    segs = np.asarray(ds.ann.segments[i], dtype=np.float64)
    assert np.array_equal(v.gt_secs, segs)
    names = [str(n) for n in ds.ann.segment_labels[i]]
    assert v.gt_labels.tolist() == [list(ds.classes).index(n) for n in names]
    assert v.gt_snippets.tolist() == [[round(s * 25 / 16), round(e * 25 / 16)] for s, e in segs.tolist()]
    assert v.label.tolist() == [1.0 if c in set(ds.ann.labels_all[i]) else 0.0 for c in ds.classes]
    assert v.classes == sorted(set(ds.ann.labels_all[i]), key=list(ds.classes).index)
    assert v.duration == float(np.ravel(ds.ann.duration)[i])
    # the choice the notebook explains: moderate length, several actions
    assert 60 <= v.T <= 120 and len(v.gt_labels) >= 2
    assert 'synthetic' in repr(v) and '\n' not in repr(v)
    v.features[:] = 0                                        # a copy: the shared data set is untouched
    assert np.array_equal(ds.features(i), x) and x.any()

def test_demo_model_errors_are_one_line_and_say_how_to_recreate(tmp_path):
    from co2net.example import DEMO_MODEL, demo_model
    from co2net.runs import load_checkpoint
    missing = tmp_path/'demo_model.pt'
    with pytest.raises(FileNotFoundError) as e: demo_model(missing)
    assert str(missing) in str(e.value) and 'bench/make_demo_model.py' in str(e.value) and '\n' not in str(e.value)
    corrupt = tmp_path/'corrupt.pt'
    corrupt.write_bytes(DEMO_MODEL.read_bytes()[:1000])       # a truncated copy
    with pytest.raises(ValueError) as e: demo_model(corrupt)
    assert str(corrupt) in str(e.value) and 'bench/make_demo_model.py' in str(e.value) and '\n' not in str(e.value)
    st = load_checkpoint(DEMO_MODEL)
    wrong = tmp_path/'wrong.pt'
    torch.save({**st, 'model': {k: v[..., :1] for k, v in st['model'].items()}}, wrong)   # shapes that do not fit
    with pytest.raises(ValueError) as e: demo_model(wrong)
    assert 'does not match the model' in str(e.value) and 'bench/make_demo_model.py' in str(e.value)
    other = tmp_path/'other.pt'
    torch.save({**st, 'config': {**st['config'], 'dataset': 'Thumos14reduced'}}, other)
    with pytest.raises(ValueError, match='not trained on the synthetic demo data'): demo_model(other)

def test_demo_model_is_ready_and_leaves_the_random_stream_alone():
    from co2net.example import demo_model, DEMO_MODEL
    from co2net.runs import load_checkpoint
    torch.manual_seed(1); expected = torch.rand(3)
    torch.manual_seed(1); m = demo_model(); got = torch.rand(3)
    assert torch.equal(got, expected)
    assert not m.training and {p.device.type for p in m.parameters()} == {'cpu'}
    st = load_checkpoint(DEMO_MODEL)
    assert all(torch.equal(v, st['model'][k]) for k, v in m.state_dict().items())
    assert demo_model() is not m                              # each call: a fresh copy a chapter may change


def test_missing_method_model_names_its_command(tmp_path):
    "The error for a missing DELU/DDG-Net demo model names the command with its --method."
    from co2net.example import demo_model
    for m in ('delu', 'ddgnet'):
        with pytest.raises(FileNotFoundError, match=f'make_demo_model.py --method {m} --out'):
            demo_model(tmp_path/f'demo_model_{m}.pt')
