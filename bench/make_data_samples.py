"""Regenerate the committed synthetic sample data_samples/SynThumos-* bit for bit.

Usage (from the repository root): python bench/make_data_samples.py [--out data_samples]

The recipe is `co2net.synthetic.make_data_sample`: 40 THUMOS14 videos (structure from
data_samples/Thumos14reduced-Annotations, at most 240 s, times x0.5), 2 x 64 channels, seed 0.
"""
import argparse, shutil
from pathlib import Path
from co2net.synthetic import make_data_sample, file_digests, SAMPLE_NAME

ROOT = Path(__file__).resolve().parents[1]

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--out', default=str(ROOT/'data_samples'), help='folder that receives SynThumos-Annotations/ and SynThumos-I3D-JOINTFeatures.npy')
    ap.add_argument('--annotations', default=str(ROOT/'data_samples'/'Thumos14reduced-Annotations'))
    args = ap.parse_args()
    out = Path(args.out)
    for p in (out/f'{SAMPLE_NAME}-Annotations', out/f'{SAMPLE_NAME}-I3D-JOINTFeatures.npy'):
        if p.is_dir(): shutil.rmtree(p)
        elif p.exists(): p.unlink()
    make_data_sample(out, args.annotations, seed=0)
    digests = {k: v for k, v in file_digests(out).items() if k.startswith(SAMPLE_NAME)}
    size = sum((out/k).stat().st_size for k in digests)
    for k, v in digests.items(): print(f'{v[:16]}  {k}')
    print(f'{len(digests)} files, {size/1e6:.2f} MB in {out}')

if __name__ == '__main__': main()
