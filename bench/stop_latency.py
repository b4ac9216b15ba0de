"""How long `co2net detect VIDEO` takes to end after SIGTERM, with and without the hard stop of the command line.

Usage (from the repository root): python bench/stop_latency.py [--frames 400] [--after 8] [--repeat 2]

Writes a synthetic video (`--frames` frames at 25 fps, a moving square, 128 x 128 pixels), starts
`co2net detect CHECKPOINT VIDEO --random-weights` on it (a small random checkpoint of 2048-d features), sends SIGTERM
`--after` seconds after the command printed its random-weights note (feature extraction is then running: TV-L1
optical flow in a thread pool and the I3D networks, both in native code), and measures the seconds until the process
has ended. Each run is done twice: as shipped (`co2net.cli.HARD_STOP_COMMANDS` holds 'detect') and with the hard
stop switched off (the behaviour before it existed). Prints one line per run: the exit status, the seconds from
SIGTERM to exit, and whether an output or temporary file was left. Needs the co2net[video] extra (PyAV, OpenCV).
"""
import argparse, os, signal, subprocess, sys, tempfile, time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CHILD = ('import sys, co2net.cli as c\n'
         'if sys.argv[1] == "off": c.HARD_STOP_COMMANDS = set()\n'
         'sys.argv = ["co2net"] + sys.argv[2:]; c.main()')


def write_video(path, n_frames, size=128):
    import av
    with av.open(str(path), 'w') as c:
        s = c.add_stream('mpeg4', rate=25); s.width = s.height = size; s.pix_fmt = 'yuv420p'
        for i in range(n_frames):
            img = np.zeros((size, size, 3), np.uint8); x = 2 + i % (size - 40); img[40:72, x:x + 32] = 255
            for pkt in s.encode(av.VideoFrame.from_ndarray(img, format='rgb24')): c.mux(pkt)
        for pkt in s.encode(): c.mux(pkt)


def checkpoint(path):
    from co2net.train import get_config, model_from_config, save_checkpoint, seed_everything
    seed_everything(0)
    cfg = get_config('thumos14', device='cpu')
    save_checkpoint(path, model=model_from_config(cfg, 20, 2048), config=cfg, iteration=0,
                    meta={'classes': [f'c{i}' for i in range(20)], 'n_classes': 20, 'feat_dim': 2048, 'data': 'untrained'})


def one_run(mode, ck, video, out, after):
    env = {**os.environ, 'PYTHONUNBUFFERED': '1', 'PYTHONPATH': str(ROOT)}
    p = subprocess.Popen([sys.executable, '-c', CHILD, mode, 'detect', str(ck), str(video), '--random-weights',
                          '--device', 'cpu', '--out', str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, env=env)
    for line in p.stdout:                                   # the note comes right before extraction starts
        if 'random I3D weights' in line: break
    time.sleep(after)
    if p.poll() is not None: return p.returncode, None, 'ended before the signal'
    t0 = time.perf_counter(); p.send_signal(signal.SIGTERM)
    try: p.wait(timeout=600)
    except subprocess.TimeoutExpired: p.kill(); p.wait()
    dt = time.perf_counter() - t0
    err = p.stderr.read().strip().splitlines()
    left = sorted(x.name for x in out.parent.iterdir())   # the output folder held nothing before
    return p.returncode, dt, f"left: {left or 'nothing'}; stderr: {err[-1] if err else ''}"


if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--frames', type=int, default=400)
    ap.add_argument('--after', type=float, default=8.0)
    ap.add_argument('--repeat', type=int, default=2)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        write_video(tmp/'clip.mp4', args.frames); checkpoint(tmp/'ck.pt')
        for k in range(args.repeat):
            for mode in ('on', 'off'):
                (tmp/'out').mkdir(exist_ok=True)
                rc, dt, what = one_run(mode, tmp/'ck.pt', tmp/'clip.mp4', tmp/'out'/'dets.json', args.after)
                label = 'hard stop on ' if mode == 'on' else 'hard stop off'
                print(f'{label}: exit status {rc}, ' + (f'{dt:.2f} s from SIGTERM to exit' if dt is not None else 'not signalled')
                      + f'; {what}', flush=True)
