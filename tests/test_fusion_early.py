"""The early-fusion switch `fusion='early'` (chapter 02_ccm): no gate; each branch's attention unit sees the
concatenation [main; aux] (2D channels), as the attention of BaS-Net, HAM-Net and UM sees [RGB; FLOW], while the
feature fusion and the classifier see the raw [RGB; FLOW] as with 'concat'. It builds, has the parameter count of
its layer formula (worked out by hand below), trains a step (directly and through the config and training loop),
and leaves the default model and the other fusions as they were."""
import torch

from co2net.ccm import FUSIONS, EarlyFusion, attention_input_dim, make_fusion
from co2net.model import CO2Net, expected_parameter_count, parameter_table


def n_params(m): return sum(p.numel() for p in m.parameters())


def test_parameter_count_by_hand():
    "Each attention unit's first convolution takes 2D input channels; nothing else changes against 'concat'."
    # I3D size, C = 20: D = 1024, attention width h = 512, classifier width H = 2048
    attention = (512 * 2048 * 3 + 512) + (512 * 512 * 3 + 512) + (512 + 1)        # conv3 2D->h, conv3 h->h, conv1 h->1
    head = (2048 * 2048 + 2048) + (2048 * 2048 * 3 + 2048) + (21 * 2048 + 21)     # fusion 1x1, classifier k3, output
    assert 2 * attention + head == 24_691_735
    assert expected_parameter_count(20, 2048, fusion='early') == 24_691_735
    assert n_params(CO2Net(20, 2048, fusion='early')) == 24_691_735
    assert 24_691_735 - 21_546_007 == 2 * 3 * 1024 * 512                          # = 'concat' + the wider first convs
    # the demo size: D = 32, h = 16, H = 64, C = 20
    m = CO2Net(20, 64, fusion='early')
    assert n_params(m) == 2 * ((16 * 64 * 3 + 16) + (16 * 16 * 3 + 16) + 17) + 4_160 + 12_352 + 1_365 == 25_655
    assert parameter_table(m)['fusion (early, 2 branches)'] == 0
    assert tuple(m.rgb_branch.attention.conv1.weight.shape) == (16, 64, 3)


def test_forward_uses_both_modalities_in_the_attention_only():
    torch.manual_seed(0)
    m = CO2Net(5, 16, fusion='early').eval()
    x = torch.randn(2, 9, 16)
    with torch.no_grad():
        o = m(x)
        r, f = x.transpose(1, 2)[:, :8], x.transpose(1, 2)[:, 8:]
        assert torch.allclose(o.rgb_attn, m.rgb_branch.attention(torch.cat([r, f], 1)).transpose(1, 2), atol=1e-6)
        assert torch.allclose(o.flow_attn, m.flow_branch.attention(torch.cat([f, r], 1)).transpose(1, 2), atol=1e-6)
        assert torch.allclose(o.features, m.feature_fusion(x.transpose(1, 2)).transpose(1, 2), atol=1e-6)
        # the attention reacts to the auxiliary modality (with 'concat' it would not)
        x2 = x.clone(); x2[..., 8:] += 1.0
        assert not torch.allclose(m(x2).rgb_attn, o.rgb_attn)
        c = CO2Net(5, 16, fusion='concat').eval()
        assert torch.equal(c(x2).rgb_attn, c(x).rgb_attn)


def test_trains_a_step():
    "One Adam step on the full CO2-Net loss moves every parameter and gives a finite loss."
    from co2net.losses import co2net_loss
    torch.manual_seed(0)
    m = CO2Net(5, 16, fusion='early').train()
    opt = torch.optim.Adam(m.parameters(), lr=1e-3)
    x, y = torch.randn(6, 12, 16), torch.eye(5)[[0, 0, 1, 1, 2, 3]]
    before = {n: p.detach().clone() for n, p in m.named_parameters()}
    loss = co2net_loss(m(x), y)['total']
    loss.backward(); opt.step()
    assert torch.isfinite(loss)
    assert [n for n, p in m.named_parameters() if torch.equal(p, before[n])] == []


def test_config_and_training_loop(tmp_path):
    "`fusion=early` is a config choice (read from co2net.ccm.FUSIONS); two iterations of the real loop run."
    from co2net.config import FIELD_CHOICES, get_config
    from co2net.train import train
    assert 'early' in FIELD_CHOICES['fusion']
    syn = {'n_videos': 24, 'feature_dim': 16, 'n_classes': 4, 'seed': 0, 'duration': [10., 30.]}
    cfg = get_config('demo', out_dir=str(tmp_path/'run'), synthetic=syn, max_seqlen=32, batch_size=6, n_pairs=2,
                     max_iter=2, eval_interval=2, log_every=1, device='cpu', progress=False, fusion='early')
    res = train(cfg, verbose=False)
    assert res.model.fusion_kind == 'early' and res.iteration == 2
    assert res.model.feat_dim == 32                                         # feature_dim 16 per modality: 2D = 32
    assert res.model.rgb_branch.attention.conv1.in_channels == 32          # the attention sees [main; aux], 2D
    assert all(torch.isfinite(p).all() for p in res.model.parameters())


def test_default_and_other_fusions_unchanged():
    assert FUSIONS[:4] == ('ccm', 'se', 'concat', 'add') and FUSIONS[4] == 'early'
    assert CO2Net().fusion_kind == 'ccm' and CO2Net(5, 64).rgb_branch.attention.conv1.in_channels == 32
    assert [attention_input_dim(k, 32) for k in FUSIONS] == [32, 32, 32, 32, 64]
    assert [expected_parameter_count(20, 2048, fusion=f) for f in FUSIONS[:4]] == [34_133_015, 22_334_743, 21_546_007, 21_546_007]
    assert isinstance(make_fusion('early', 8), EarlyFusion) and n_params(make_fusion('early', 8)) == 0
