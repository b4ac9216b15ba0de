"""Benchmark: frames per second of each step of the I3D feature extraction (co2net.features) on the CPU.

A SYNTHETIC test video (a textured square moving over a textured background, H.264, 30 fps, 320 x 240 by
default, 60 s by default) is written to a temporary folder, then each step is timed with the benchmark
recipe (25 fps, shorter side 256, centre crop 224):
  - decode: decoding + 25-fps resampling + resize to 341 x 256 (`read_frames`), the whole video;
  - flow TV-L1 / Farneback: optical flow of consecutive 341 x 256 grayscale frames, one pair at a time
    (OpenCV's own threads) and `--threads` pairs at a time (OpenCV threads set to 1, as `FeatureExtractor`
    runs it), on the first `--flow-pairs` pairs;
  - I3D RGB / I3D flow: `I3D.features` on batches of `--batch` 16-frame 224 x 224 snippets (random weights:
    the speed does not depend on the values), `--snippets` snippets.
Rates are frames of video per second of computing (25 = real time at 25 fps). The last line estimates the
end-to-end rate (all steps one after another, flow in threads, I3D on the CPU).

Usage: python bench/extract_speed.py [--seconds 60] [--size 320x240] [--flow-pairs 100] [--snippets 8]
                                     [--batch 4] [--threads 0] [--torch-threads 0]
"""
import argparse, os, sys, tempfile, time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
import cv2
import numpy as np
import torch
from co2net.features import (write_square_video, read_frames, to_gray, optical_flow, random_i3d, rgb_to_unit,
                             flow_to_unit, centre_crop, RECIPE)

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--seconds', type=float, default=60, help='length of the synthetic video (default 60 s)')
    p.add_argument('--size', default='320x240', help='video size WxH (default 320x240)')
    p.add_argument('--flow-pairs', type=int, default=100, help='frame pairs timed for each flow method (default 100)')
    p.add_argument('--snippets', type=int, default=8, help='16-frame snippets timed per I3D stream (default 8)')
    p.add_argument('--batch', type=int, default=4, help='snippets per I3D batch (default 4)')
    p.add_argument('--threads', type=int, default=0, help='flow threads (0: as FeatureExtractor, min(cores, 8))')
    p.add_argument('--torch-threads', type=int, default=0, help='torch intra-op threads (0: torch default)')
    a = p.parse_args(argv)
    w, h = map(int, a.size.lower().split('x'))
    threads = a.threads or min(os.cpu_count() or 1, 8)
    if a.torch_threads: torch.set_num_threads(a.torch_threads)
    print(f'co2net feature extraction speed, CPU only: {os.cpu_count()} cores, torch threads {torch.get_num_threads()}, '
          f'OpenCV threads {cv2.getNumThreads()}, flow threads {threads}. SYNTHETIC {a.seconds:g} s video at 30 fps, {w}x{h}; recipe {RECIPE}.')
    with tempfile.TemporaryDirectory() as d:
        video = Path(d)/'bench.mp4'
        n_src = int(round(a.seconds * 30))
        side = h // 4
        moving = max(2, min(n_src, (w - side - 8) // 2))               # frames the square can move at 2 px/frame
        t0 = time.perf_counter()
        write_square_video(video, moving, n_src - moving, 2, fps=30, size=(w, h), side=side, x0=4)
        print(f'wrote the video ({n_src} frames) in {time.perf_counter() - t0:.1f} s')
        t0 = time.perf_counter()
        frames = list(read_frames(video, RECIPE['short_side']))       # n x (256, W', 3) uint8
        dt = time.perf_counter() - t0
        rows = [('decode + resample + resize', len(frames), dt)]
        grays = [to_gray(f) for f in frames[:a.flow_pairs + 1]]
        pairs = list(zip(grays, grays[1:]))
        cv2_threads = cv2.getNumThreads()
        for method in ('tvl1', 'farneback'):
            t0 = time.perf_counter()
            for x, y in pairs: optical_flow(x, y, method)
            rows.append((f'flow {method}, 1 pair at a time', len(pairs), time.perf_counter() - t0))
            if threads > 1:                                           # as FeatureExtractor: OpenCV threads 1, pairs in parallel
                cv2.setNumThreads(1)
                with ThreadPoolExecutor(threads) as pool:
                    t0 = time.perf_counter()
                    list(pool.map(lambda xy: optical_flow(*xy, method), pairs))
                    rows.append((f'flow {method}, {threads} pairs at a time', len(pairs), time.perf_counter() - t0))
                cv2.setNumThreads(cv2_threads)
        c = RECIPE['crop']
        clip = centre_crop(np.stack(frames[:16]), c)                  # (16, 224, 224, 3)
        x_rgb = torch.from_numpy(rgb_to_unit(clip)).permute(3, 0, 1, 2)[None].repeat(a.batch, 1, 1, 1, 1)
        x_flow = torch.from_numpy(flow_to_unit(np.zeros((16, c, c, 2), np.float32))).permute(3, 0, 1, 2)[None]
        x_flow = x_flow.repeat(a.batch, 1, 1, 1, 1).normal_(0, 0.1)
        for name, net, x in (('I3D RGB', random_i3d(3), x_rgb), ('I3D flow', random_i3d(2), x_flow)):
            n_batches = max(1, a.snippets // a.batch)
            with torch.no_grad():
                net.features(x[:1])                                    # warm-up
                t0 = time.perf_counter()
                for _ in range(n_batches): net.features(x)
            rows.append((f'{name}, batches of {a.batch}', n_batches * a.batch * 16, time.perf_counter() - t0))
    print(f'\n{"step":<34}{"frames":>8}{"seconds":>10}{"frames/s":>10}')
    for name, n, dt in rows: print(f'{name:<34}{n:>8}{dt:>10.2f}{n / dt:>10.1f}')
    rate = {name: n / dt for name, n, dt in rows}
    tv = rate.get(f'flow tvl1, {threads} pairs at a time', rate['flow tvl1, 1 pair at a time'])
    fb = rate.get(f'flow farneback, {threads} pairs at a time', rate['flow farneback, 1 pair at a time'])
    i3d = [v for k, v in rate.items() if k.startswith('I3D')]
    per_frame = lambda flow_rate: 1 / (1 / rate['decode + resample + resize'] + 1 / flow_rate + sum(1 / v for v in i3d))
    print(f'\nend to end (estimate, steps one after another): TV-L1 {per_frame(tv):.1f} frames/s, '
          f'Farneback {per_frame(fb):.1f} frames/s  (25 frames/s = real time; SYNTHETIC video, CPU)')

if __name__ == '__main__': main()
