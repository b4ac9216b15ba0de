"""What the successors' parity tests share: the small feature width, the two data sets' settings, the output names of
co2net against the official code's, and the float32 comparison."""
import torch

FD = 64                                   # feature width (2D) of the small models
DATASETS = ('thumos14', 'activitynet12')
OUTPUTS = (('features', 'feat'), ('cas', 'cas'), ('attn', 'attn'), ('rgb_attn', 'v_atn'), ('flow_attn', 'f_atn'))


def close(a, b, rtol=1e-5, atol=1e-6, what=''):
    "`a` equals `b` to float32 rounding (same shape); the message names `what` and the largest difference."
    a, b = torch.as_tensor(a).detach().double(), torch.as_tensor(b).detach().double()
    assert a.shape == b.shape, (what, a.shape, b.shape)
    diff = (a - b).abs().max().item() if a.numel() else 0.0
    assert torch.allclose(a, b, rtol=rtol, atol=atol), f'{what}: max |diff| {diff:.3e}'
