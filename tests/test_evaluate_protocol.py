"""Protocol labelling and result files of the evaluation (issues 12 and 13).

- A missing `Ambiguous_test.txt` on THUMOS14 is an error under the `co2net` protocol unless the caller opts out
  (`missing_ambiguous='skip'`), and then the result says it was computed without the filter; synthetic data
  without a list is evaluated without opting out and is labelled honestly.
- `DetectionResult.headline()` follows the protocol; `to_dict()` names the unit (percent) in its keys;
  `table(per_class=True)` prints the AP of every class by name.
- `write_results_json` sorts each video's detections by score and states `external_data` only as told;
  `read_results_json` rejects strings, booleans and non-finite numbers, naming the file, video and detection.
"""
import dataclasses, json, re
from pathlib import Path
import numpy as np
import pytest
from co2net.data import load_annotations, ground_truth, secs_to_snippets
from co2net.evaluate import (evaluate_protocol, evaluate_detections, synthetic_detections, filter_ambiguous,
                             thumos14_ambiguous_videos, make_columns, PROTOCOLS, MISSING_AMBIGUOUS)
from co2net.synthetic import synthetic_annotations
from co2net.localize import write_results_json, read_results_json, localize_videos, random_video_outputs

ROOT = Path(__file__).resolve().parents[1]
THUMOS = ROOT/'data_samples'/'Thumos14reduced-Annotations'
SYN_THUMOS = ROOT/'data_samples'/'SynThumos-Annotations'


@pytest.fixture(scope='module')
def thumos():
    ann = load_annotations(THUMOS)
    idx = np.flatnonzero(ann.subset == 'test')
    gt = ground_truth(ann, idx)
    gt = dict(gt, start=secs_to_snippets(gt['start']), end=secs_to_snippets(gt['end']))
    return ann, idx, synthetic_detections(gt, 3000, seed=0, n_classes=20)


def test_missing_ambiguous_on_thumos14_is_an_error(thumos):
    ann, idx, dets = thumos
    no_list = dataclasses.replace(ann, ambiguous=None)
    with pytest.raises(FileNotFoundError, match=r"Ambiguous_test\.txt.*missing_ambiguous='skip'"):
        evaluate_protocol(no_list, idx, dets)
    with pytest.raises(FileNotFoundError, match='Ambiguous_test.txt'):
        evaluate_protocol(no_list, idx, dets, 'co2net', missing_ambiguous='error')
    with pytest.raises(ValueError, match='missing_ambiguous must be one of'):
        evaluate_protocol(ann, idx, dets, missing_ambiguous='ignore')
    assert MISSING_AMBIGUOUS == ('error', 'skip')


def test_skip_is_labelled_and_equals_the_unfiltered_evaluation(thumos):
    ann, idx, dets = thumos
    with_list = evaluate_protocol(ann, idx, dets)
    skipped = evaluate_protocol(dataclasses.replace(ann, ambiguous=None), idx, dets, missing_ambiguous='skip')
    assert with_list.ambiguous_filter == 'applied' and with_list.n_ambiguous_removed > 0
    assert with_list.protocol_label == 'co2net' and 'Ambiguous filter applied' in with_list.caption()
    assert skipped.ambiguous_filter == 'skipped' and skipped.protocol_label == 'co2net without Ambiguous filter'
    assert 'WITHOUT the Ambiguous filter' in skipped.caption() and 'skipped on request' in skipped.caption()
    assert skipped.to_dict()['protocol_label'] == 'co2net without Ambiguous filter'
    assert int(skipped.n_pred.sum()) == len(dets['score'])                    # nothing filtered
    assert int(with_list.n_pred.sum()) == len(filter_ambiguous(dets, ann.ambiguous)['score'])
    assert not np.array_equal(skipped.ap, with_list.ap)
    # the other protocols have no filter: no list needed, nothing said about it
    sec = evaluate_protocol(dataclasses.replace(ann, ambiguous=None), idx, dets, 'seconds')
    assert sec.ambiguous_filter == '' and 'Ambiguous' not in sec.caption()


@pytest.mark.parametrize('keep_lines', [0, 20, 98])
def test_incomplete_ambiguous_file_on_thumos14_is_an_error(tmp_path, thumos, keep_lines):
    "An Ambiguous_test.txt that is empty, cut after 20 lines, or one line short: refused, or labelled with 'skip'."
    import shutil
    _, idx, dets = thumos
    d = tmp_path/'Thumos14reduced-Annotations'; shutil.copytree(THUMOS, d)
    for p in [d, *d.iterdir()]: p.chmod(0o755 if p.is_dir() else 0o644)
    lines = (THUMOS/'Ambiguous_test.txt').read_text().splitlines(True)
    (d/'Ambiguous_test.txt').write_text(''.join(lines[:keep_lines]))
    ann = load_annotations(d)
    with pytest.raises(ValueError, match=r'Ambiguous_test\.txt is incomplete: \d+ of the 36 evaluated videos'):
        evaluate_protocol(ann, idx, dets)
    part = evaluate_protocol(ann, idx, dets, missing_ambiguous='skip')
    full = evaluate_protocol(load_annotations(THUMOS), idx, dets)
    assert part.ambiguous_filter == 'partial' and part.protocol_label == 'co2net with an incomplete Ambiguous filter'
    assert 'INCOMPLETE' in part.caption() and part.to_dict()['protocol_label'].endswith('incomplete Ambiguous filter')
    assert part.n_ambiguous_removed < full.n_ambiguous_removed


def test_recognising_thumos14():
    ann = load_annotations(THUMOS)
    test = ann.names[ann.subset == 'test']
    assert len(thumos14_ambiguous_videos(test, ann.classes)) == 36             # 37 in the list, 0001292 not in the 212
    assert thumos14_ambiguous_videos(ann.names[ann.subset != 'test'], ann.classes) == []   # training videos: no list needed
    assert thumos14_ambiguous_videos(test, [f'c{i}' for i in range(20)]) == []
    syn = load_annotations(SYN_THUMOS)                                         # THUMOS14-derived sample: ships its list
    assert thumos14_ambiguous_videos(syn.names, syn.classes) == sorted(syn.ambiguous)
    demo = synthetic_annotations(n_videos=600, seed=0)                        # reuses some THUMOS14 numbers as names
    assert {'video_test_0000367', 'video_test_0000405'} <= set(demo.names)
    assert thumos14_ambiguous_videos(demo.names, demo.classes) == []


def test_synthetic_data_without_a_list_needs_no_opt_out():
    demo = synthetic_annotations(n_videos=40, seed=1)
    assert demo.ambiguous is None
    idx = np.flatnonzero(demo.subset == 'test')
    i = idx[0]
    dets = make_columns([demo.names[i]], [demo.classes.index(demo.segment_labels[i][0])], [0.], [5.], [1.])
    res = evaluate_protocol(demo, idx, dets)                                  # default missing_ambiguous='error'
    assert res.ambiguous_filter == 'no list'
    assert 'WITHOUT the Ambiguous filter (the data has no Ambiguous list)' in res.caption()
    assert res.protocol_label == 'co2net without Ambiguous filter'


def test_syn_thumos_without_its_list_is_an_error():
    syn = load_annotations(SYN_THUMOS)
    idx = np.flatnonzero(syn.subset == 'test')
    i = idx[0]
    dets = make_columns([syn.names[i]], [list(syn.classes).index(syn.segment_labels[i][0])], [0.], [5.], [1.])
    assert evaluate_protocol(syn, idx, dets).ambiguous_filter == 'applied'
    with pytest.raises(FileNotFoundError, match='Ambiguous_test.txt'):
        evaluate_protocol(dataclasses.replace(syn, ambiguous=None), idx, dets)


def test_headline_follows_the_protocol(thumos):
    ann, idx, dets = thumos
    res = evaluate_protocol(ann, idx, dets, 'co2net')
    assert res.headline() == ('AVG mAP@0.1:0.7', pytest.approx(res.map[:7].mean(), abs=1e-15))
    anet = evaluate_protocol(ann, idx, dets, 'activitynet')
    name, value = anet.headline()
    assert name == 'AVG mAP@0.5:0.95' and value == pytest.approx(anet.map.mean(), abs=1e-15)
    assert value != pytest.approx(anet.map[anet.thresholds <= 0.7 + 1e-9].mean())   # not the THUMOS-style average
    sec = evaluate_protocol(ann, idx, dets, 'seconds')
    assert sec.headline()[0] == 'AVG mAP@0.1:0.7'
    assert {k: p.headline for k, p in PROTOCOLS.items()} == {'co2net': (0.1, 0.7), 'seconds': (0.1, 0.7),
                                                            'activitynet': (0.5, 0.95)}
    custom = evaluate_detections(make_columns(['a'], [0], [0.], [8.]), make_columns(['a'], [0], [0.], [2.], [1.]), [0.2, 0.3])
    assert custom.headline() == ('AVG mAP@0.2:0.3', 0.5)                       # tIoU 0.25: TP at 0.2, FP at 0.3


def test_to_dict_units_and_per_class_table(thumos):
    ann, idx, dets = thumos
    res = evaluate_protocol(ann, idx, dets, data='THUMOS14 test GT, synthetic detections')
    d = json.loads(json.dumps(res.to_dict()))
    assert d['map_pct'] == pytest.approx(list(100 * res.map), abs=1e-12)
    assert d['averages_pct']['0.1:0.7'] == pytest.approx(100 * res.averages['0.1:0.7'], abs=1e-12)
    assert d['headline_name'] == 'AVG mAP@0.1:0.7' and d['headline_pct'] == pytest.approx(100 * res.headline()[1])
    assert list(d['ap_pct']) == list(ann.classes)
    assert d['ap_pct']['HighJump'] == pytest.approx(list(100 * res.ap[ann.classes.index('HighJump')]), abs=1e-12)
    assert d['protocol'] == 'co2net' and d['tie_rule'] == 'reference' and d['ambiguous_filter'] == 'applied'
    # the per-class table: one row per class, by name, values in percent with two decimals
    lines = res.table(per_class=True).splitlines()
    assert lines[0] == res.caption()
    rows = {l.split()[0]: l.split()[1:] for l in lines[2:]}
    assert set(rows) == {'mAP'} | set(ann.classes)
    for c, name in enumerate(ann.classes):
        assert rows[name] == [f'{100 * a:.2f}' for a in res.ap[c]]
    assert rows['mAP'][:9] == [f'{100 * m:.2f}' for m in res.map]
    assert re.search(r'\| HighJump \|', res.markdown(per_class=True))


def test_results_json_sorted_and_external_data(tmp_path):
    rng = np.random.default_rng(0)
    items = [(f'v{i}', *random_video_outputs(rng, 120, 5, 'quantized')) for i in range(6)]
    dets = localize_videos(items)
    classes = [f'class{i}' for i in range(5)]
    p = write_results_json(dets, classes, tmp_path/'r.json')
    js = json.loads(p.read_text())
    assert js['external_data'] == {'used': None, 'details': 'not stated'}
    assert 'Kinetics' not in p.read_text()
    for video, rows in js['results'].items():
        scores = [r['score'] for r in rows]
        assert scores == sorted(scores, reverse=True), video
    back = read_results_json(p, classes)
    assert len(back['score']) == len(dets['score'])
    truth = {'used': True, 'details': 'I3D features pre-trained on Kinetics (W-TALC features)'}
    assert json.loads(write_results_json(dets, classes, tmp_path/'k.json', external_data=truth).read_text())['external_data'] == truth
    with pytest.raises(ValueError, match='external_data'):
        write_results_json(dets, classes, tmp_path/'x.json', external_data={'used': 'yes', 'details': ''})
    assert not (tmp_path/'x.json').exists()


@pytest.mark.parametrize('item, message', [
    ({'label': 'class1', 'score': 0.5, 'segment': '12'}, "detection 1: segment must be a list of two numbers"),
    ({'label': 'class1', 'score': True, 'segment': [0, 1]}, 'detection 1: score must be a number, got True'),
    ({'label': 'class1', 'score': 0.5, 'segment': [0, True]}, 'detection 1: segment must be a number'),
    ({'label': 'class1', 'score': 0.5, 'segment': ['0', '1']}, 'detection 1: segment must be a number'),
    ({'label': 'class1', 'score': float('nan'), 'segment': [0, 1]}, 'detection 1: score is nan (not finite)'),
    ({'label': 'class1', 'score': 0.5, 'segment': [0, float('inf')]}, 'detection 1: segment is inf (not finite)'),
    ({'label': 'class1', 'score': 0.5, 'segment': [0, 1, 2]}, 'detection 1: segment must be a list of two numbers'),
])
def test_read_results_json_rejects(tmp_path, item, message):
    good = {'label': 'class0', 'score': 0.9, 'segment': [0.0, 1.5]}
    p = tmp_path/'res.json'
    p.write_text(json.dumps({'results': {'video_x': [good, item]}}))
    with pytest.raises(ValueError) as err:
        read_results_json(p, ['class0', 'class1'])
    assert str(p) in str(err.value) and "video 'video_x'" in str(err.value) and message in str(err.value)
