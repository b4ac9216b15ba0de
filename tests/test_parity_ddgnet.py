"""DDG-Net (ICCV 2023) in co2net against an independent transcription of the official code (tests/successor_transcriptions.py).

`DDGNet` must build the official initial weights from the same seed, read and write the official checkpoint layout,
and give the official graph (kinds, similarity, adjacencies, graph features), outputs, feature-consistency loss and
criterion (every term at the start, the middle and the end of training), gradients and Adam step, with the THUMOS14
and the ActivityNet1.2 settings. The spec's pitfalls are tested by name. Small feature width (2D = 64) except where
the I3D width is named; T, C, ratios, thresholds and weights are the official ones.
"""
import pytest
import torch

import successor_transcriptions as official
from co2net.model import (DDGNet, DDGNetOutput, ModelOutput, SnippetGraph, load_official_checkpoint, snippet_kinds,
                          sparsify_similarity, kind_adjacencies, snippet_similarity, DDG_KINDS)
from co2net.losses import DDGNET_LOSS_TERMS, ddgnet_loss, delu_loss, complementary_loss, uncertainty_guide_loss

from parity_common import FD, DATASETS, OUTPUTS, close


def official_class(dataset):
    return official.DDG_DELU_ACT if dataset == 'activitynet12' else official.DDG_DELU


def kernel(dataset):
    return 13 if dataset == 'activitynet12' else None


def pair(dataset, seed=0, width=FD):
    opt = official.ddgnet_opt(dataset)
    torch.manual_seed(seed)
    theirs = official_class(dataset)(width, opt.num_class, opt)
    ours = load_official_checkpoint(DDGNet(opt.num_class, width, smooth_kernel=kernel(dataset)), theirs.state_dict())
    return opt, ours, theirs


def differing(ours, theirs):
    sd, own = theirs.state_dict(), ours.state_dict()
    return [k for k, n in ours.official_key_map().items() if not torch.equal(own[n], sd[k])]


# ---------------------------------------------------------------- initialisation and checkpoints
@pytest.mark.parametrize('dataset', DATASETS)
def test_ddgnet_official_init_matches_official_class(dataset):
    opt = official.ddgnet_opt(dataset)
    torch.manual_seed(21); theirs = official_class(dataset)(FD, opt.num_class, opt); after_theirs = torch.rand(4)
    torch.manual_seed(21); ours = DDGNet(opt.num_class, FD, smooth_kernel=kernel(dataset), init='official'); after_ours = torch.rand(4)
    assert differing(ours, theirs) == [] and torch.equal(after_ours, after_theirs)
    assert len(ours.official_key_map()) == 34
    assert sorted(set(theirs.state_dict()) - set(ours.official_key_map())) == (
        ['feat_encoder.0.bias', 'feat_encoder.0.weight'] if dataset == 'activitynet12' else [])


def test_pitfall_thumos_class_has_no_feat_encoder():
    "THUMOS14's DDG-Net class builds no feat_encoder: with one (as CO2-Net/DELU), every initial weight differs."
    opt = official.ddgnet_opt('thumos14')
    torch.manual_seed(21); theirs = official.DDG_DELU(FD, 20, opt)
    torch.manual_seed(21); wrong = DDGNet(20, FD, feat_encoder=True, init='official')
    assert differing(wrong, theirs) == [k for k in wrong.official_key_map() if k.endswith('.weight')]
    assert DDGNet(20, FD).official_ignored_prefixes() == () and DDGNet(20, FD, smooth_kernel=13).official_ignored_prefixes() == ('feat_encoder.',)


def test_ddgnet_official_init_at_i3d_width():
    "The THUMOS14 model at the I3D width: 29,942,807 parameters, every tensor equal to the official class's."
    opt = official.ddgnet_opt('thumos14')
    torch.manual_seed(2); theirs = official.DDG_DELU(2048, 20, opt)
    torch.manual_seed(2); ours = DDGNet(20, 2048, init='official')
    assert sum(p.numel() for p in ours.parameters()) == 29_942_807
    assert sum(p.numel() for p in theirs.parameters()) == 29_942_807
    assert differing(ours, theirs) == []
    x = torch.randn(2, 24, 2048)
    with torch.no_grad():
        got, want = ours.eval()(x), theirs.eval()(x, is_training=False)
    for f, k in OUTPUTS: close(getattr(got, f), want[k], rtol=1e-4, atol=1e-5, what=f)


def _init_and_forward_on(device):
    opt = official.ddgnet_opt('thumos14')
    with torch.device(device):                                  # the official code builds and runs on the GPU
        torch.manual_seed(7); theirs = official.DDG_DELU(FD, 20, opt)
        torch.manual_seed(7); ours = DDGNet(20, FD, init='official')
        x = torch.randn(2, 40, FD)
        with torch.no_grad(): got, want = ours.eval()(x), theirs.eval()(x, is_training=False)
    assert differing(ours, theirs) == []
    for f, k in OUTPUTS: close(getattr(got, f), want[k], rtol=1e-4, atol=1e-5, what=f'{device} {f}')
    return ours


def test_ddgnet_official_init_device_for_device():
    "The equality holds device for device: on the CPU here, and on CUDA where a GPU is present (other numbers)."
    cpu = _init_and_forward_on('cpu')
    if torch.cuda.is_available():
        gpu = _init_and_forward_on('cuda')
        assert not torch.equal(cpu.classifier.conv_out.weight, gpu.classifier.conv_out.weight.cpu())


@pytest.mark.parametrize('dataset', DATASETS)
def test_ddgnet_checkpoint_round_trip(dataset, tmp_path):
    opt, _, theirs = pair(dataset, seed=1)
    path = tmp_path / 'best_ddgnet.pkl'
    torch.save({'module.' + k: v for k, v in theirs.state_dict().items()}, path)    # DataParallel-style names
    ours = load_official_checkpoint(DDGNet(opt.num_class, FD, smooth_kernel=kernel(dataset)), path)
    x = torch.randn(3, 40, FD)
    with torch.no_grad():
        got, want = ours.eval()(x), theirs.eval()(x, is_training=False)
    for f, k in OUTPUTS: close(getattr(got, f), want[k], what=f)
    assert got.feat_loss.item() == 0.0 and want['extra_loss'] == {}
    back = official_class(dataset)(FD, opt.num_class, opt)
    keys = back.load_state_dict(ours.official_state_dict(), strict=False)
    assert keys.unexpected_keys == [] and keys.missing_keys == (
        ['feat_encoder.0.weight', 'feat_encoder.0.bias'] if dataset == 'activitynet12' else [])
    assert all(torch.equal(v, theirs.state_dict()[k]) for k, v in ours.official_state_dict().items())


def test_ddgnet_checkpoint_errors_name_the_key():
    sd = official.DDG_DELU(FD, 20, official.ddgnet_opt('thumos14')).state_dict()
    with pytest.raises(ValueError, match=r"unexpected keys: \['feat_encoder.0.weight'\]"):
        load_official_checkpoint(DDGNet(20, FD), dict(sd, **{'feat_encoder.0.weight': torch.zeros(1)}))
    bad = dict(sd); del bad['Attn.attentions.1.5.bias']
    with pytest.raises(ValueError, match=r"missing keys: \['Attn.attentions.1.5.bias'\]"):
        load_official_checkpoint(DDGNet(20, FD), bad)
    with pytest.raises(ValueError, match='classifier.4.weight has shape'):
        load_official_checkpoint(DDGNet(100, FD), sd)


# ---------------------------------------------------------------- the graph, step by step
def graph_of(dataset, seed=3, B=10):
    opt, ours, theirs = pair(dataset, seed=seed)
    x, labels = official.make_batch(B, opt.max_seqlen, FD, opt.num_class, seed=seed)
    ours.train(); theirs.train()
    torch.manual_seed(50); out = ours(x)
    torch.manual_seed(50); ref = theirs(x)
    # recompute co2net's graph pass from the same first-pass attentions
    xt = x.transpose(1, 2); d = FD // 2
    a_r, a_f = out.first_rgb_attn.transpose(1, 2), out.first_flow_attn.transpose(1, 2)
    with torch.no_grad(): g = ours.graph(xt[:, :d], xt[:, d:], a_r, a_f)
    return opt, ours, theirs, x, labels, out, ref, g


@pytest.mark.parametrize('dataset', DATASETS)
def test_ddgnet_graph_matches_official(dataset):
    opt, ours, theirs, x, labels, out, ref, g = graph_of(dataset)
    rec = theirs.Attn.record
    assert torch.equal(out.first_rgb_attn.transpose(1, 2), rec['ori_vatn']) and torch.equal(out.first_flow_attn.transpose(1, 2), rec['ori_fatn'])
    act, bg, amb = g.kinds
    assert torch.equal(act, rec['action_row']) and torch.equal(bg, rec['background_row'])
    assert torch.equal(out.kinds, (2 * act + amb)[:, 0].long())
    xt = x.transpose(1, 2); d = FD // 2
    close(snippet_similarity(xt[:, :d], xt[:, d:]), rec['sim_raw'], what='Sim')
    sim = sparsify_similarity(snippet_similarity(xt[:, :d], xt[:, d:]))
    assert torch.equal(sim != 0, rec['sim'] != 0)               # the same entries survive (ties included)
    close(sim, rec['sim'], what='sparsified Sim')
    for name, mine, theirs_adj in zip(('act', 'bg', 'amb', 'amb<-act', 'amb<-bg', 'amb self'), g.adjacency, rec['adjacency']):
        close(mine, theirs_adj, what=f'A {name}')
    for mine, key in ((g.rgb_avg, 'vfeat_avg'), (g.rgb_gcn, 'vfeat_gcn'), (g.flow_avg, 'ffeat_avg'), (g.flow_gcn, 'ffeat_gcn'),
                      (g.rgb, 'new_vfeat'), (g.flow, 'new_ffeat')):
        close(mine, rec[key], rtol=1e-4, atol=1e-5, what=key)
    close(out.feat_loss, ref['extra_loss']['feat_loss'], what='L_fc')
    for f, k in OUTPUTS: close(getattr(out, f), ref[k], what=f)
    counts = [int((out.kinds == i).sum()) for i in range(3)]
    assert all(c > 0 for c in counts), counts                     # every kind present: a real test of the masks


# ---------------------------------------------------------------- one training step, term by term
def check_step(dataset, itr, seed=3):
    opt, ours, theirs = pair(dataset, seed=seed)
    x, labels = official.make_batch(10, opt.max_seqlen, FD, opt.num_class, seed=seed)
    ours.train(); theirs.train()
    torch.manual_seed(200 + itr); out = ours(x)
    torch.manual_seed(200 + itr); ref = theirs(x)
    for f, k in OUTPUTS: close(getattr(out, f), ref[k], what=f'{dataset} it={itr} {f}')
    mine = ddgnet_loss(out, labels, iteration=itr, max_iter=opt.max_iter, **official.loss_kwargs(opt, 'ddgnet'))
    total, ref_terms = theirs.criterion(ref, labels, itr, opt)
    for name in DDGNET_LOSS_TERMS:
        close(mine[f'weighted_{name}'], ref_terms[official.TERM_NAMES[name]], what=f'{dataset} it={itr} {name}')
    close(mine['total'], total, what=f'{dataset} it={itr} total')
    mine['total'].backward(); total.backward()
    own, their_params = dict(ours.named_parameters()), dict(theirs.named_parameters())
    for key, name in ours.official_key_map().items():
        g_theirs = their_params[key].grad
        close(own[name].grad, g_theirs, rtol=1e-4, atol=1e-5 * max(g_theirs.abs().max().item(), 1e-12),
              what=f'{dataset} it={itr} grad {key}')
    for model in (ours, theirs):
        torch.optim.Adam(model.parameters(), lr=opt.lr, weight_decay=opt.weight_decay).step()
    after = dict(theirs.named_parameters())
    for key, name in ours.official_key_map().items():
        close(own[name], after[key], rtol=0, atol=1e-6, what=f'{dataset} it={itr} Adam step {key}')
    return mine


@pytest.mark.parametrize('dataset', DATASETS)
def test_ddgnet_training_step_matches_official(dataset):
    opt = official.ddgnet_opt(dataset)
    for itr in (0, opt.max_iter // 2, opt.max_iter - 1):
        mine = check_step(dataset, itr)
        assert torch.isfinite(mine['total']) and mine['feat_consistency'].item() > 0


@pytest.mark.parametrize('dataset', DATASETS)
def test_ddgnet_eval_mode_matches_official(dataset):
    "In evaluation mode the official forward returns no extra loss and the criterion uses L_fc = 0."
    opt, ours, theirs = pair(dataset, seed=5)
    x, labels = official.make_batch(10, opt.max_seqlen, FD, opt.num_class, seed=5)
    with torch.no_grad():
        out, ref = ours.eval()(x), theirs.eval()(x, is_training=False)
        mine = ddgnet_loss(out, labels, iteration=9, max_iter=opt.max_iter, **official.loss_kwargs(opt, 'ddgnet'))
        total, ref_terms = theirs.criterion(ref, labels, 9, opt)
    assert mine['feat_consistency'].item() == 0.0 and ref_terms['feat_loss'] == 0
    close(mine['total'], total, what='eval total')


# ---------------------------------------------------------------- pitfalls, by name
def test_pitfall_kinds_tie_at_attention_one_half_counts_as_action():
    half = torch.full((1, 1, 4), 0.5)
    other = torch.tensor([[[0.5, 0.4999, 0.7, 0.1]]])
    act, bg, amb = snippet_kinds(half, other)
    assert act[0, 0].tolist() == [1, 0, 1, 0] and bg[0, 0].tolist() == [0, 0, 0, 0] and amb[0, 0].tolist() == [0, 1, 0, 1]
    # in training, a dropped attention logit gives exactly sigma(0) = 0.5; both dropped -> action, never background
    _, _, _, _, _, out, ref, _ = graph_of('thumos14', seed=6)
    both = (out.first_rgb_attn == 0.5) & (out.first_flow_attn == 0.5)
    assert both.sum() > 20 and (out.kinds[both[..., 0]] == DDG_KINDS.index('action')).all()
    torch.manual_seed(0)
    rgb, flow = torch.rand(3, 1, 50), torch.rand(3, 1, 50)
    rgb[..., ::4] = 0.5; flow[..., ::3] = 0.5
    opt = official.ddgnet_opt('thumos14')
    graph = official.DDG_Net(8, opt)
    masks = graph.action_background_mask(rgb, flow)
    act, bg, _ = snippet_kinds(rgb, flow)
    assert torch.equal(masks[4], act == 0) and torch.equal(masks[5], bg == 0)


def test_pitfall_similarity_top_k_per_column_with_ties():
    "k_g = T // 10 entries survive per column (dim 1), not per row; tied (repeated) snippets as the official topk."
    opt = official.ddgnet_opt('thumos14')
    x, _ = official.make_batch(4, 320, FD, 20, seed=7)
    xt = x.transpose(1, 2)
    sim = snippet_similarity(xt[:, :32], xt[:, 32:])
    sim = sim + 0.9 * (sim.abs() < 2)                          # push most entries over the 0.8 threshold
    sparse = sparsify_similarity(sim)
    assert ((sparse != 0).sum(1) <= 32).all() and ((sparse != 0).sum(1) == 32).all()
    assert ((sparse != 0).sum(2) != 32).any()                  # rows are not limited
    ref = sim.clone(); ref[ref < 0.8] = 0
    idx = torch.topk(ref, 320 - 32, dim=1, largest=False, sorted=False)[1]
    assert torch.equal(sparse, ref.scatter(1, idx, 0))


def test_pitfall_ambiguous_adjacency_normalised_before_split():
    g = torch.Generator().manual_seed(8)
    sim = torch.rand(2, 30, 30, generator=g)
    a_r, a_f = torch.rand(2, 1, 30, generator=g), torch.rand(2, 1, 30, generator=g)
    kinds = snippet_kinds(a_r, a_f)
    adj = kind_adjacencies(sim, *kinds)
    amb_cols = kinds[2][:, 0].bool()                           # (B, T)
    parts = adj.amb_from_action + adj.amb_from_background + adj.amb_self
    close(parts, adj.ambiguous, what='parts sum to A_amb')
    col_sums = adj.ambiguous.sum(1)                             # (B, T)
    close(col_sums[amb_cols], torch.ones(int(amb_cols.sum())), what='ambiguous columns sum to 1')
    assert (adj.amb_from_action.sum(1)[amb_cols] < 1 - 1e-3).all()   # no part alone does
    assert (adj.ambiguous.sum(1)[~amb_cols] == 0).all()        # discriminative snippets receive nothing from A_amb


def test_pitfall_gcn_bias_before_product_zero_columns():
    torch.manual_seed(9)
    graph = SnippetGraph(8)
    with torch.no_grad():
        for m in graph.modules():
            if isinstance(m, torch.nn.Conv1d): m.bias.fill_(3.0)
    x = torch.randn(2, 8, 40)
    a_r = torch.rand(2, 1, 40); a_f = torch.rand(2, 1, 40)
    gp = graph(x, x.clone(), a_r, a_f)
    act, bg, _ = gp.kinds
    h_act = torch.nn.functional.leaky_relu(graph.act_rgb[0](x) @ gp.adjacency.action, 0.2)
    assert (h_act.abs().sum(1)[act[:, 0] == 0] == 0).all()      # non-action columns exactly 0 despite the bias
    assert (h_act.abs().sum(1)[act[:, 0] == 1] > 0).all()


def test_pitfall_short_video_has_an_empty_graph():
    "T < 10: k_g = 0, every adjacency is 0 and X' = w X."
    torch.manual_seed(10)
    graph = SnippetGraph(8)
    x = torch.randn(1, 8, 9)
    gp = graph(x, x, torch.rand(1, 1, 9), torch.rand(1, 1, 9))
    assert all((a == 0).all() for a in gp.adjacency)
    close(gp.rgb, 0.5 * x, what="X' = 0.5 X")


def test_pitfall_hard_coded_batch_of_10_ddgnet():
    opt, ours, theirs = pair('thumos14', seed=11)
    x, labels = official.make_batch(12, 64, FD, 20, seed=11)
    ours.train(); theirs.train()
    torch.manual_seed(1); out = ours(x)
    torch.manual_seed(1); ref = theirs(x)
    with pytest.raises(RuntimeError):
        theirs.criterion(ref, labels, 5, opt)
    terms = ddgnet_loss(out, labels, iteration=5, max_iter=opt.max_iter, **official.loss_kwargs(opt, 'ddgnet'))
    assert torch.isfinite(terms['total'])


def test_feature_consistency_reaches_only_the_graph_convolutions():
    torch.manual_seed(12)
    model = DDGNet(20, FD).train()
    x, _ = official.make_batch(4, 60, FD, 20, seed=12)
    model(x).feat_loss.backward()
    reached = {n for n, p in model.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0}
    assert reached and all(n.startswith('graph.') for n in reached)


def test_complementary_loss_matches_official_and_clamp():
    g = torch.Generator().manual_seed(13)
    cas = 3 * torch.randn(10, 60, 101, generator=g)
    cas[0, 0, 5] = 40.0                                         # 1 - p < 1e-6: the clamp acts
    labels = (torch.rand(10, 100, generator=g) < 0.02).float()
    helper = official.DDG_DELU_ACT(FD, 100, official.ddgnet_opt('activitynet12'))
    cas_a, cas_b = cas.clone().requires_grad_(), cas.clone().requires_grad_()
    ours, theirs = complementary_loss(cas_a, labels), helper.complementary_learning_loss(cas_b, labels)
    close(ours, theirs, what='L_cl')
    ours.backward(); theirs.backward()
    close(cas_a.grad, cas_b.grad, what='gradient')


def test_ddgnet_output_fields_and_validation():
    model = DDGNet(5, 32)
    out = model.eval()(torch.randn(2, 30, 32))
    assert isinstance(out, DDGNetOutput) and out._fields[:5] == ModelOutput._fields
    assert out.kinds.shape == (2, 30) and out.kinds.dtype == torch.long and out.feat_loss.item() == 0.0
    for kw, msg in ((dict(feat_dim=31), 'feat_dim'), (dict(background_threshold=0.7), 'both kinds'),
                    (dict(init='kaiming'), "init 'kaiming'"), (dict(feature_weight=2), 'feature_weight')):
        with pytest.raises(ValueError, match=msg):
            DDGNet(**{'n_classes': 5, 'feat_dim': 32, **kw})
    with pytest.raises(ValueError, match=r'\(B, T>=1, 32\)'):
        model(torch.randn(2, 30, 31))


def test_ddgnet_loss_dict_convention():
    opt, ours, _ = pair('activitynet12', seed=14)
    x, labels = official.make_batch(10, 60, FD, 100, seed=14)
    out = ours.train()(x)
    kw = official.loss_kwargs(opt, 'ddgnet')
    terms = ddgnet_loss(out, labels, iteration=10, max_iter=opt.max_iter, **kw)
    assert list(terms) == list(DDGNET_LOSS_TERMS) + [f'weighted_{n}' for n in DDGNET_LOSS_TERMS] + ['total']
    delu = delu_loss(out, labels, iteration=10, max_iter=opt.max_iter, **{k: v for k, v in kw.items() if k not in ('alpha5', 'alpha6')})
    close(terms['total'], delu['total'] + 1.7 * out.feat_loss + 0.5 * terms['complementary'], what='DELU + fc + cl')
    no_cl = ddgnet_loss(out, labels, iteration=10, max_iter=opt.max_iter, use=set(DDGNET_LOSS_TERMS) - {'complementary'}, **kw)
    assert not no_cl['complementary'].requires_grad and no_cl['feat_consistency'].requires_grad
    close(terms['total'] - no_cl['total'], 0.5 * terms['complementary'], what='use')
    plain = ModelOutput(*out[:5])                              # an output without feat_loss: L_fc = 0
    assert ddgnet_loss(plain, labels, iteration=10, max_iter=opt.max_iter, **kw)['feat_consistency'].item() == 0.0
