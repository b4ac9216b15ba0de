"""DELU (ECCV 2022) in co2net against an independent transcription of the official code (tests/successor_transcriptions.py).

DELU's network is CO2-Net's: co2net's `CO2Net` must hold DELU's official initial weights, load DELU's checkpoints and
give DELU's forward outputs; co2net's `delu_loss` must give every term of DELU's criterion at the start, the middle
and the end of training, the same gradients and the same Adam step, with the THUMOS14 and the ActivityNet1.2
settings. The spec's pitfalls are tested by name. Small feature width (2D = 64); T, C and every ratio and weight are
the official ones.
"""
import copy
import pytest
import torch
import torch.nn.functional as F

import successor_transcriptions as official
from co2net.model import CO2Net, load_official_checkpoint, official_key_map
from co2net.losses import (LOSS_TERMS, DELU_LOSS_TERMS, delu_loss, evidential_video_loss, snippet_uncertainty,
                           easy_to_hard_curve, uncertainty_guide_loss, video_evidence_logits, suppressed_cas,
                           method_loss_weights)

from parity_common import FD, DATASETS, OUTPUTS, close


def pair(dataset, seed=0):
    "The official class (seeded) and a CO2Net holding the same weights (loaded from the official state dict)."
    opt = official.delu_opt(dataset)
    torch.manual_seed(seed)
    theirs = (official.DELU_ACT if dataset == 'activitynet12' else official.DELU)(FD, opt.num_class, opt)
    ours = load_official_checkpoint(CO2Net(opt.num_class, FD, smooth_kernel=13 if dataset == 'activitynet12' else None),
                                    theirs.state_dict())
    return opt, ours, theirs


def iterations(opt):
    return (0, opt.max_iter // 2, opt.max_iter - 1)


# ---------------------------------------------------------------- network, initialisation, checkpoints
@pytest.mark.parametrize('dataset', DATASETS)
def test_delu_official_init_is_co2net_official_init(dataset):
    "DELU's classes build CO2-Net's layers in CO2-Net's order, feat_encoder included: CO2Net(init='official') = DELU."
    opt = official.delu_opt(dataset)
    cls = official.DELU_ACT if dataset == 'activitynet12' else official.DELU
    for n_class, width in ((opt.num_class, FD), (opt.num_class, 256)):
        torch.manual_seed(11); theirs = cls(width, n_class, opt); after_theirs = torch.rand(4)
        torch.manual_seed(11); ours = CO2Net(n_class, width, smooth_kernel=13 if dataset == 'activitynet12' else None,
                                             init='official'); after_ours = torch.rand(4)
        sd, own = theirs.state_dict(), ours.state_dict()
        assert [k for k, n in official_key_map().items() if not torch.equal(own[n], sd[k])] == []
        assert torch.equal(after_ours, after_theirs)          # the random stream goes on from the same place
    torch.manual_seed(11); default = CO2Net(opt.num_class, 256)
    assert not torch.equal(default.classifier.conv_out.weight, ours.classifier.conv_out.weight)   # the check can fail


@pytest.mark.parametrize('dataset', DATASETS)
def test_delu_checkpoint_loads_into_co2net(dataset, tmp_path):
    opt, _, theirs = pair(dataset, seed=1)
    path = tmp_path / f'best_delu_{dataset}.pkl'
    torch.save(theirs.state_dict(), path)                      # the official layout, unused feat_encoder included
    assert any(k.startswith('feat_encoder.') for k in theirs.state_dict())
    ours = load_official_checkpoint(CO2Net(opt.num_class, FD, smooth_kernel=13 if dataset == 'activitynet12' else None), path)
    x = torch.randn(2, 25, FD)
    with torch.no_grad():
        got, want = ours.eval()(x), theirs.eval()(x)
    for f, k in OUTPUTS: close(getattr(got, f), want[k], what=f)


# ---------------------------------------------------------------- one training step, term by term
def check_step(dataset, itr, B=10, seed=3):
    opt, ours, theirs = pair(dataset, seed=seed)
    x, labels = official.make_batch(B, opt.max_seqlen, FD, opt.num_class, seed=seed)
    ours.train(); theirs.train()
    torch.manual_seed(100 + itr); out = ours(x)                # the same dropout masks: same seed, same order of draws
    torch.manual_seed(100 + itr); ref = theirs(x)
    for f, k in OUTPUTS: close(getattr(out, f), ref[k], what=f'{dataset} it={itr} {f}')
    assert (out.features == 0).any() and (dataset == 'activitynet12' or (out.rgb_attn == 0.5).any())   # dropout was active
    mine = delu_loss(out, labels, iteration=itr, max_iter=opt.max_iter, **official.loss_kwargs(opt, 'delu'))
    total, ref_terms = theirs.criterion(ref, labels, itr, opt)
    for name in DELU_LOSS_TERMS:
        close(mine[f'weighted_{name}'], ref_terms[official.TERM_NAMES[name]], what=f'{dataset} it={itr} {name}')
    close(mine['total'], total, what=f'{dataset} it={itr} total')
    mine['total'].backward(); total.backward()
    own, their_params = dict(ours.named_parameters()), dict(theirs.named_parameters())
    for key, name in official_key_map().items():
        g_ours, g_theirs = own[name].grad, their_params[key].grad
        scale = g_theirs.abs().max().item()
        close(g_ours, g_theirs, rtol=1e-4, atol=1e-5 * max(scale, 1e-12), what=f'{dataset} it={itr} grad {key}')
    assert all(p.grad is None for k, p in their_params.items() if k.startswith('feat_encoder.'))   # unused, no gradient
    for model in (ours, theirs):
        torch.optim.Adam(model.parameters(), lr=opt.lr, weight_decay=opt.weight_decay).step()
    after = dict(theirs.named_parameters())
    for key, name in official_key_map().items():
        close(own[name], after[key], rtol=0, atol=1e-6, what=f'{dataset} it={itr} Adam step {key}')
    return mine, ref_terms


@pytest.mark.parametrize('dataset', DATASETS)
def test_delu_training_step_matches_official(dataset):
    "Outputs, every term (weighted, as the official loss_dict), the total, all gradients and one Adam step."
    opt = official.delu_opt(dataset)
    uct = {}
    for itr in iterations(opt):
        mine, _ = check_step(dataset, itr)
        uct[itr] = mine['uct_guide'].item()
        assert torch.isfinite(mine['total'])
    # halfway the curve is flat, so the re-weighted guide loss equals the plain one; the iterations matter
    mid = opt.max_iter // 2
    close(uct[mid], check_step(dataset, mid)[0]['guide'], what='flat curve at max_iter/2')
    assert abs(uct[0] - uct[mid]) > 1e-6 and abs(uct[opt.max_iter - 1] - uct[mid]) > 1e-6


@pytest.mark.parametrize('dataset', DATASETS)
def test_delu_eval_mode_matches_official(dataset):
    opt, ours, theirs = pair(dataset, seed=4)
    x, labels = official.make_batch(10, opt.max_seqlen, FD, opt.num_class, seed=4)
    with torch.no_grad():
        out, ref = ours.eval()(x), theirs.eval()(x)
        mine = delu_loss(out, labels, iteration=7, max_iter=opt.max_iter, **official.loss_kwargs(opt, 'delu'))
        total, _ = theirs.criterion(ref, labels, 7, opt)
    close(mine['total'], total, what='eval total')


# ---------------------------------------------------------------- pitfalls, by name
def _scatter_weights(curve, order):
    "The other reading of the weighting: every snippet weighted by its own rank, w[pi(r)] = c_r."
    return torch.empty(order.shape, dtype=curve.dtype).scatter_(1, order, curve.expand(order.shape))


def test_pitfall_gather_not_scatter():
    "w_bt = c[pi_b(t)] (official torch.gather) is what co2net computes; the scatter by rank gives other numbers."
    opt = official.delu_opt('thumos14')
    g = torch.Generator().manual_seed(0)
    B, T, C = 10, 320, 20
    cas, supp = torch.randn(B, T, C + 1, generator=g), 3 * torch.randn(B, T, C + 1, generator=g)
    attns = [torch.rand(B, T, 1, generator=g) for _ in range(3)]
    helper = official.DELU(FD, C, opt)
    for itr in (0, 4999):
        ours = uncertainty_guide_loss(cas, supp, attns, iteration=itr, max_iter=5000, amplitude=0.7)
        theirs = helper.uct_guide_loss(cas, supp, *attns, n_class=C, epoch=itr, total_epoch=5000, amplitude=0.7)
        close(ours, theirs, what='gather')
        order = torch.sort(snippet_uncertainty(supp), dim=1).indices
        curve = easy_to_hard_curve(T, itr, 5000, 0.7)
        guide = sum((1 - a[..., 0] - F.softmax(cas, -1)[..., -1]).abs() for a in attns) / 3
        scattered = (_scatter_weights(curve, order) * guide).mean()
        assert abs(scattered.item() - theirs.item()) > 1e-4, (scattered.item(), theirs.item())
    # on the hand example of chapter 13 the two weightings are permutations of each other
    order = torch.tensor([[1, 3, 0, 2]]); curve = easy_to_hard_curve(4, 0, 5000)
    assert torch.equal(curve[order][0], curve[[1, 3, 0, 2]]) and torch.equal(_scatter_weights(curve, order)[0], curve[[2, 0, 3, 1]])


def test_pitfall_uncertainty_sums_c_plus_1_columns_divides_by_c():
    C = 20
    zero_row = torch.zeros(1, 1, C + 1)
    assert snippet_uncertainty(zero_row).item() == pytest.approx(C / (2 * (C + 1)))            # 20 / 42, not 20 / 40
    g = torch.Generator().manual_seed(1)
    supp = 4 * torch.randn(10, 320, C + 1, generator=g)
    helper = official.DELU(FD, C, official.delu_opt('thumos14'))
    assert torch.equal(snippet_uncertainty(supp), helper.snippet_uct(supp, C))
    hand = C / (torch.exp(supp.clamp(-10, 10)) + 1).sum(-1)
    close(snippet_uncertainty(supp), hand, what='hand formula')
    c_columns = C / (torch.exp(supp[..., :C].clamp(-10, 10)) + 1).sum(-1)                     # the background left out
    assert not torch.equal(torch.sort(c_columns, 1).indices, torch.sort(hand, 1).indices)       # another order


def test_pitfall_anet_edl_has_no_variance_term():
    g = torch.Generator().manual_seed(2)
    v, y = 3 * torch.randn(6, 100, generator=g), (torch.rand(6, 100, generator=g) < 0.03).float()
    y[:, 5] = 1
    ref = official.EvidenceLoss(100, 'relu', 'mse')(v, y, epoch=0, total_epoch=22000)
    ours = evidential_video_loss(v, y, anet=True)
    close(ours, ref['loss_cls'][:, 0], what='squared error')
    assert ref['loss_var'].abs().min() > 1e-6                   # computed by the official code ...
    assert not torch.allclose(ours, (ref['loss_cls'] + ref['loss_var'])[:, 0])   # ... and not added


def test_pitfall_edl_log_loss_detaches_only_u():
    g = torch.Generator().manual_seed(3)
    v = (2 * torch.randn(4, 20, generator=g)).requires_grad_()
    y = torch.zeros(4, 20); y[:, 0] = 1; y[1, 3] = 1
    evidential_video_loss(v, y).sum().backward()
    v2 = v.detach().clone().requires_grad_()
    official.EvidenceLoss(20, 'exp', 'log')(v2, y, 0, 5000)['loss_cls'].sum().backward()
    close(v.grad, v2.grad, what='gradient')
    v3 = v.detach().clone().requires_grad_()                      # detaching g as well would change the gradient
    alpha = torch.exp(v3.clamp(-10, 10)) + 1; S = alpha.sum(1, keepdim=True)
    q = y / alpha; gw = ((1 - 20 / S) * y.sum(1, keepdim=True) * q / q.sum(1, keepdim=True)).detach()
    (gw * (S.log() - alpha.log())).sum().backward()
    assert not torch.allclose(v.grad, v3.grad, atol=1e-6)


def test_pitfall_topk_ties_at_attention_one_half():
    "Fused attentions of exactly 0.5 straddle the top-k_e boundary: co2net picks what the official torch.topk picks."
    opt = official.delu_opt('thumos14')
    g = torch.Generator().manual_seed(4)
    B, T, C = 10, 320, 20
    attn = torch.rand(B, T, 1, generator=g) * 0.4
    attn[:, ::3] = 0.5                                           # 107 ties for k_e = 35 places
    attn[:, 5:20:7] = 0.9
    supp = 3 * torch.randn(B, T, C + 1, generator=g)
    helper = official.DELU(FD, C, opt)
    assert torch.equal(video_evidence_logits(supp, attn, edl_ratio=9), helper.edl_video_logits(supp, attn, 9, C))
    labels = torch.zeros(B, C); labels[:, 2] = 1
    ours = evidential_video_loss(video_evidence_logits(supp, attn, edl_ratio=9), labels).mean()
    close(ours, helper.edl_loss(supp, attn, labels, rat=9, n_class=C), what='L_edl with ties')
    # another choice among the tied snippets (the last ones instead) gives other video logits
    k = 35
    idx = torch.argsort(attn[..., 0] + 1e-3 * torch.arange(T) / T, dim=1, descending=True)[:, :k]
    other = supp.gather(1, idx[..., None].expand(-1, -1, C + 1))[:, :, :-1].mean(1)
    assert not torch.allclose(other, video_evidence_logits(supp, attn, edl_ratio=9))


def test_pitfall_hard_coded_batch_of_10():
    "The official curve.repeat(10, 1): equal for B <= 10, an error for B > 10; co2net weights any batch size."
    opt = official.delu_opt('thumos14')
    helper = official.DELU(FD, 20, opt)
    g = torch.Generator().manual_seed(5)
    def batch(B):
        return (torch.randn(B, 64, 21, generator=g), 3 * torch.randn(B, 64, 21, generator=g),
                [torch.rand(B, 64, 1, generator=g) for _ in range(3)])
    for B in (1, 6, 10):
        cas, supp, attns = batch(B)
        close(uncertainty_guide_loss(cas, supp, attns, iteration=10, max_iter=5000),
              helper.uct_guide_loss(cas, supp, *attns, n_class=20, epoch=10, total_epoch=5000, amplitude=0.7), what=f'B={B}')
    cas, supp, attns = batch(12)
    with pytest.raises(RuntimeError):
        helper.uct_guide_loss(cas, supp, *attns, n_class=20, epoch=10, total_epoch=5000, amplitude=0.7)
    whole = uncertainty_guide_loss(cas, supp, attns, iteration=10, max_iter=5000)
    halves = [uncertainty_guide_loss(cas[s], supp[s], [a[s] for a in attns], iteration=10, max_iter=5000)
              for s in (slice(0, 6), slice(6, 12))]
    close(whole, (halves[0] + halves[1]) / 2, what='B=12 is the mean of its halves')
    # the whole criterion with a batch of 12 works in co2net
    opt, ours, _ = pair('thumos14')
    x, labels = official.make_batch(12, 64, FD, 20, seed=6)
    terms = delu_loss(ours.train()(x), labels, iteration=3, max_iter=5000, **official.loss_kwargs(opt, 'delu'))
    assert torch.isfinite(terms['total'])


def test_curve_float32_and_iteration_checks():
    c = easy_to_hard_curve(320, 0, 5000)
    assert c.dtype == torch.float32 and c.shape == (320,)
    helper = official.DELU(FD, 20, official.delu_opt('thumos14'))
    for itr in (0, 1, 2500, 4999):
        assert torch.equal(easy_to_hard_curve(320, itr, 5000, 0.7), helper.course_function(itr, 5000, 320, 0.7))
        assert torch.equal(easy_to_hard_curve(60, itr, 22000, 0.2), helper.course_function(itr, 22000, 60, 0.2))
    assert torch.equal(easy_to_hard_curve(320, 2500, 5000), torch.ones(320))
    for bad in (dict(iteration=-1, max_iter=10), dict(iteration=11, max_iter=10), dict(iteration=0, max_iter=0)):
        with pytest.raises(ValueError):
            easy_to_hard_curve(8, **bad)


def test_label_free_video_is_zero_not_nan():
    v = torch.randn(3, 20); y = torch.zeros(3, 20); y[0, 1] = y[2, 4] = 1
    ref = official.EvidenceLoss(20, 'exp', 'log')(v, y, 0, 5000)['loss_cls'][:, 0]
    ours = evidential_video_loss(v, y)
    assert torch.isnan(ref[1]) and ours[1].item() == 0.0
    close(ours[[0, 2]], ref[[0, 2]], what='other videos unchanged')


def test_delu_loss_dict_convention():
    opt, ours, _ = pair('thumos14')
    x, labels = official.make_batch(10, 320, FD, 20, seed=8)
    out = ours.train()(x)
    kw = official.loss_kwargs(opt, 'delu')
    terms = delu_loss(out, labels, iteration=100, max_iter=5000, **kw)
    assert list(terms) == list(DELU_LOSS_TERMS) + [f'weighted_{n}' for n in DELU_LOSS_TERMS] + ['total']
    w = method_loss_weights(alpha2=0.4, alpha_edl=1.3, alpha_uct=0.4)
    for n in DELU_LOSS_TERMS: close(terms[f'weighted_{n}'], w[n] * terms[n], what=n)
    dropped = delu_loss(out, labels, iteration=100, max_iter=5000, use=set(DELU_LOSS_TERMS) - {'edl'}, **kw)
    close(terms['total'] - dropped['total'], 1.3 * terms['edl'], what='use')
    assert not dropped['edl'].requires_grad and dropped['uct_guide'].requires_grad
    only_edl = delu_loss(out, labels, iteration=100, max_iter=5000, use='edl', **kw)
    close(only_edl['total'], 1.3 * terms['edl'], what='edl alone')
    assert not any(only_edl[n].requires_grad for n in LOSS_TERMS)
    with pytest.raises(ValueError, match='unknown loss terms'):
        delu_loss(out, labels, iteration=0, max_iter=10, use={'kl'})
