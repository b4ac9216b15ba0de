"""Tie rule of the detection mAP (issue 13, item 1): equal tIoU are visited as the ActivityNet reference
visits them, `tiou.argsort()[::-1]` on the tIoU over the video's GT of the class (in GT order).

Hand-computed APs for constructed ties where the reference rule and the earlier-GT rule differ (2 and
18 candidate GT), and an independent literal transcription of the reference algorithm checked against
the fast and the naive implementations on random cases with many exact ties.
"""
import numpy as np
import pytest
from co2net.evaluate import (make_columns, segment_tiou, visit_order, tie_keys, candidate_pairs, detection_ap,
                             detection_ap_naive, match_detections, evaluate_detections, tiou_thresholds, TIE_RULES)


def reference_transcription(gt, dets, thresholds):
    """The reference's per-class algorithm written out literally (own code, EVALUATION.md steps): predictions in
    `score.argsort()[::-1]` order, the video's GT of the class in GT order, visited as `tiou.argsort()[::-1]`,
    per-threshold GT locks, cumulative precision/recall and all-point interpolation. AP (n_classes_in_gt, n_thr)."""
    out = []
    for c in np.unique(gt['label']):
        g_rows = [i for i in range(len(gt['label'])) if gt['label'][i] == c]
        p_rows = [i for i in range(len(dets['label'])) if dets['label'][i] == c]
        scores = np.array([dets['score'][i] for i in p_rows], dtype=np.float64)
        p_rows = [p_rows[k] for k in scores.argsort()[::-1]]
        lock = -np.ones((len(thresholds), len(g_rows)), dtype=np.int64)
        tp = np.zeros((len(thresholds), len(p_rows)))
        fp = np.zeros((len(thresholds), len(p_rows)))
        for n, p in enumerate(p_rows):
            mine = [k for k, r in enumerate(g_rows) if gt['video'][r] == dets['video'][p]]
            if not mine:
                fp[:, n] = 1
                continue
            s, e = dets['start'][p], dets['end'][p]
            gs = np.array([gt['start'][g_rows[k]] for k in mine]); ge = np.array([gt['end'][g_rows[k]] for k in mine])
            inter = (np.minimum(e, ge) - np.maximum(s, gs)).clip(0)
            tiou = inter / ((ge - gs) + (e - s) - inter)
            for t, thr in enumerate(thresholds):
                for j in tiou.argsort()[::-1]:
                    if tiou[j] < thr:
                        fp[t, n] = 1
                        break
                    if lock[t, mine[j]] >= 0: continue
                    tp[t, n] = 1
                    lock[t, mine[j]] = n
                    break
                if tp[t, n] == 0 and fp[t, n] == 0: fp[t, n] = 1
        tp_c, fp_c = np.cumsum(tp, axis=1), np.cumsum(fp, axis=1)
        rec, prec = tp_c / len(g_rows), tp_c / np.maximum(tp_c + fp_c, 1)
        aps = []
        for t in range(len(thresholds)):
            mp, mr = np.r_[0., prec[t], 0.], np.r_[0., rec[t], 1.]
            for i in range(len(mp) - 2, -1, -1): mp[i] = max(mp[i], mp[i + 1])
            step = np.flatnonzero(mr[1:] != mr[:-1]) + 1
            aps.append(float(np.sum((mr[step] - mr[step - 1]) * mp[step])))
        out.append(aps)
    return np.array(out)


# case 5 of the notebook: p0 = [2, 12] has tIoU 10/12 with both g0 = [0, 12] and g1 = [2, 14]; p1 = g1
GT5 = make_columns(['a', 'a'], [0, 0], [0, 2], [12, 14])
DETS5 = make_columns(['a', 'a'], [0, 0], [2, 2], [12, 14], [0.9, 0.8])


def case6(i0, i1):
    "Case 5 with g0 at position i0 and g1 at i1 among 18 GT of class 0 in video a (16 of them far away)."
    start, end = np.arange(18) * 10. + 100, np.arange(18) * 10. + 105
    start[[i0, i1]], end[[i0, i1]] = [0, 2], [12, 14]
    return make_columns(['a'] * 18, [0] * 18, start, end)


def test_two_tied_gt_hand_values():
    # Reference: p0 visits g1 first when numpy's argsort reversed puts index 1 first (numpy's insertion sort path and
    # its vectorised sorts both do for 2 elements). theta=0.8: p0 takes g1 (TP); p1 falls back to g0, tIoU 10/14 < 0.8
    # (FP): precision 1, 1/2 at recall 1/2, 1/2 -> AP 1/2. theta=0.5: the fall-back succeeds -> AP 1.
    # Earlier rule: p0 takes g0, p1 takes g1 (tIoU 1) -> AP 1 at both.
    later_first = visit_order(segment_tiou(2, 12, GT5['start'], GT5['end']))[0] == 1
    for f in (detection_ap, detection_ap_naive):
        np.testing.assert_array_equal(f(GT5, DETS5, [0.5, 0.8]), [[1.0, 0.5 if later_first else 1.0]])
        np.testing.assert_array_equal(f(GT5, DETS5, [0.5, 0.8], tie_rule='earlier'), [[1.0, 1.0]])
    np.testing.assert_array_equal(reference_transcription(GT5, DETS5, [0.5, 0.8]), [[1.0, 0.5 if later_first else 1.0]])
    res = evaluate_detections(GT5, DETS5, [0.5, 0.8])
    assert res.map.mean() == (0.75 if later_first else 1.0) and res.tie_rule == 'reference'
    assert evaluate_detections(GT5, DETS5, [0.5, 0.8], tie_rule='earlier').map.mean() == 1.0


@pytest.mark.parametrize('i0, i1', [(16, 17), (4, 5), (0, 17), (8, 9), (3, 12)])
def test_more_than_16_candidates(i0, i1):
    # 18 candidates (numpy's introsort / vectorised path). n_gt = 18. If p0 visits g1 first: theta=0.8 TP, FP ->
    # AP (1/18)(1) = 1/18; else TP, TP -> 2/18. theta=0.5: TP, TP -> 2/18 either way. Earlier rule: g0 first.
    gt = case6(i0, i1)
    order = visit_order(segment_tiou(2, 12, gt['start'], gt['end']))
    assert set(order[:2]) == {i0, i1}
    g1_first = order[0] == i1
    expected = [[2 / 18, 1 / 18 if g1_first else 2 / 18]]
    for f in (detection_ap, detection_ap_naive):
        np.testing.assert_allclose(f(gt, DETS5, [0.5, 0.8]), expected, rtol=0, atol=1e-15)
        np.testing.assert_allclose(f(gt, DETS5, [0.5, 0.8], tie_rule='earlier'), [[2 / 18, 2 / 18]], rtol=0, atol=1e-15)
    np.testing.assert_allclose(reference_transcription(gt, DETS5, [0.5, 0.8]), expected, rtol=0, atol=1e-15)


def test_some_18_candidate_layout_differs_between_rules():
    # over all placements of g0 < g1 among 18, the reference rule must pick g1 for some (else the >16 case never
    # exercises a difference) -- and the fast path must agree with visit_order on every placement
    picks_later = 0
    for i0 in range(18):
        for i1 in range(i0 + 1, 18):
            gt = case6(i0, i1)
            later = visit_order(segment_tiou(2, 12, gt['start'], gt['end']))[0] == i1
            picks_later += later
            tp = match_detections(gt, DETS5, [0.8])
            np.testing.assert_array_equal(tp, [[True, not later]])
    assert picks_later > 0


def test_tie_keys_follow_visit_order():
    gt = case6(4, 5)
    pred, gi, ti = candidate_pairs(gt, DETS5, 0.5)
    keys = tie_keys(gt, DETS5, pred, gi, ti)
    order = visit_order(segment_tiou(2, 12, gt['start'], gt['end']))
    mine = pred == 0
    assert list(gi[mine][np.argsort(keys[mine])]) == [g for g in order if g in set(gi[mine])]
    np.testing.assert_array_equal(tie_keys(gt, DETS5, pred, gi, ti, 'earlier'), gi)
    with pytest.raises(ValueError, match='tie_rule must be one of'):
        detection_ap(GT5, DETS5, [0.5], tie_rule='later')
    with pytest.raises(ValueError, match='tie_rule must be one of'):
        detection_ap_naive(GT5, DETS5, [0.5], tie_rule='stable')


def random_tied_case(rng, n_gt, n_det, grid):
    "GT and detections on a coarse integer grid (many exact tIoU ties, up to n_gt GT per group); distinct scores."
    n_videos, n_classes = int(rng.integers(1, 3)), int(rng.integers(1, 3))
    s, length = rng.integers(0, grid, n_gt), rng.integers(1, 6, n_gt)
    gt = make_columns([f'v{i}' for i in rng.integers(0, n_videos, n_gt)], rng.integers(0, n_classes, n_gt), s, s + length)
    src = rng.integers(0, n_gt, n_det)
    ds = gt['start'][src] + rng.integers(-2, 3, n_det)
    de = np.maximum(gt['end'][src] + rng.integers(-2, 3, n_det), ds + 1)
    return gt, make_columns(gt['video'][src], gt['label'][src], ds, de, rng.permutation(n_det) / n_det)


def test_fast_naive_and_transcription_agree_on_many_ties():
    rng = np.random.default_rng(7)
    thr = tiou_thresholds(0.1, 0.9, 0.1)
    differ = 0
    for _ in range(40):
        gt, dets = random_tied_case(rng, int(rng.integers(5, 50)), int(rng.integers(1, 120)), int(rng.integers(4, 20)))
        ref = reference_transcription(gt, dets, thr)
        fast, naive = detection_ap(gt, dets, thr), detection_ap_naive(gt, dets, thr)
        np.testing.assert_allclose(fast, ref, rtol=0, atol=1e-12)
        np.testing.assert_allclose(naive, ref, rtol=0, atol=1e-12)
        for rule in TIE_RULES:
            np.testing.assert_allclose(detection_ap(gt, dets, thr, tie_rule=rule),
                                       detection_ap_naive(gt, dets, thr, tie_rule=rule), rtol=0, atol=1e-12)
        differ += not np.allclose(fast, detection_ap(gt, dets, thr, tie_rule='earlier'), rtol=0, atol=1e-12)
    assert differ > 0      # the cases exercise ties that the two rules break differently
