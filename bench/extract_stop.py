"""How long `co2net extract` and `co2net detect VIDEO` take to stop after SIGTERM, in the middle of a video.

Writes a SYNTHETIC test video (40 s, 320 x 240, 25 fps), starts each command on it with random I3D weights at the
benchmark recipe (256 / 224, TV-L1), sends SIGTERM a few seconds into the work, and prints per command and try: the
exit status, the seconds from the signal to the end of the process, and whether any file was left.

Usage: python bench/extract_stop.py [--tries 3] [--after 4]
"""
import argparse, os, signal, subprocess, sys, tempfile, time
from pathlib import Path

CMD = [sys.executable, '-c', 'import sys; from co2net.cli import main; sys.argv[0] = "co2net"; main()']

def stop_once(args, ready: str, after: float, cwd: Path):
    "(exit status, seconds from SIGTERM to exit) of `co2net ARGS`, signalled `after` s after its output line `ready`."
    env = {**os.environ, 'PYTHONUNBUFFERED': '1'}
    p = subprocess.Popen([*CMD, *map(str, args)], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    for line in p.stdout:
        if ready in line: break
    time.sleep(after)
    if p.poll() is not None: return p.returncode, float('nan')
    t0 = time.perf_counter(); p.send_signal(signal.SIGTERM)
    try: code = p.wait(timeout=120)
    except subprocess.TimeoutExpired: p.kill(); p.wait(); return 'killed after 120 s', float('nan')
    return code, time.perf_counter() - t0

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--tries', type=int, default=3, help='signals per command')
    ap.add_argument('--after', type=float, default=4, help='seconds of work before the signal')
    args = ap.parse_args(argv)
    from co2net.features import write_square_video
    from co2net.train import get_config, model_from_config, save_checkpoint, seed_everything
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        write_square_video(d/'long.mp4', 200, 800, 1, fps=25, size=(320, 240), side=48)
        cfg = get_config('thumos14', device='cpu'); seed_everything(0)
        save_checkpoint(d/'ckpt.pt', model=model_from_config(cfg, 20, 2048), config=cfg, iteration=0,
                        meta={'classes': [f'c{i}' for i in range(20)], 'n_classes': 20, 'feat_dim': 2048, 'data': 'untrained'})
        print(f'SIGTERM {args.after:g} s into the work on a synthetic 40 s video (random I3D weights, recipe 256 / 224, TV-L1); '
              f'{os.cpu_count()} CPU cores, load average {os.getloadavg()[0]:.1f}')
        for name, argv_, ready in [
                ('co2net extract', ['extract', d/'long.mp4', '--out', d/'o', '--random-weights', '--device', 'cpu'], 'random I3D weights'),
                ('co2net detect VIDEO', ['detect', d/'ckpt.pt', d/'long.mp4', '--random-weights', '--device', 'cpu', '--out', d/'d.json'],
                 'random I3D weights')]:
            for i in range(args.tries):
                code, dt = stop_once(argv_, ready, args.after + (3 if 'detect' in name else 0), d)
                left = sorted(p.name for p in (d/'o').iterdir()) if (d/'o').exists() else []
                left += ['d.json'] if (d/'d.json').exists() else []
                print(f'{name:<20} try {i + 1}: exit status {code}, stopped {dt:.2f} s after SIGTERM, files left: {left or "none"}', flush=True)

if __name__ == '__main__': main()
