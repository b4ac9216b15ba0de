"""`co2net extract` and `co2net detect VIDEO` used carelessly: inputs that are not video files, a recipe of 0 or
negative pixels, and stopping with SIGTERM (a real subprocess on a generated video: it must end within seconds,
exit 143 and leave no file). Skipped without the `video` extra."""
import os, signal, subprocess, sys, time
from pathlib import Path
import numpy as np
import pytest

from cli_common import run_in_process as _run

pytest.importorskip('av'); pytest.importorskip('cv2')
from co2net.features import write_square_video, video_features, RANDOM_WEIGHTS_NOTE

ROOT = Path(__file__).resolve().parents[1]
CMD = [sys.executable, '-c', 'import sys; from co2net.cli import main; sys.argv[0] = "co2net"; main()']


def _one_line(code, err, *texts):
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1, f'exit {code}: {err}'
    for t in texts: assert t in lines[0], lines[0]


@pytest.fixture(scope='module')
def clip(tmp_path_factory):
    d = tmp_path_factory.mktemp('clip')
    write_square_video(d/'clip.mp4', 24, 24, 3)                  # 48 frames of 128 x 96 at 30 fps -> 40 at 25 fps
    return d/'clip.mp4'


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory):
    "An untrained 2048-d checkpoint (detections from it mean nothing; only the plumbing is tested)."
    from co2net.train import get_config, model_from_config, save_checkpoint, seed_everything
    d = tmp_path_factory.mktemp('ckpt')
    cfg = get_config('thumos14', device='cpu'); seed_everything(0)
    save_checkpoint(d/'ckpt.pt', model=model_from_config(cfg, 20, 2048), config=cfg, iteration=0,
                    meta={'classes': [f'c{i}' for i in range(20)], 'n_classes': 20, 'feat_dim': 2048, 'data': 'untrained'})
    return d/'ckpt.pt'


# 15. say what an input is when it is not a video file

def test_inputs_that_are_not_video_files_are_named(tmp_path, clip, checkpoint):
    (tmp_path/'zero.mp4').symlink_to('/dev/zero')
    (tmp_path/'x.mp4').mkdir()
    os.mkfifo(tmp_path/'pipe.mp4')
    (tmp_path/'gone.mp4').symlink_to(tmp_path/'nothing-here.mp4')
    for name, what in [('zero.mp4', 'character device'), ('x.mp4', 'folder'), ('pipe.mp4', 'named pipe'),
                       ('gone.mp4', 'broken symbolic link')]:
        code, _, err = _run(['extract', tmp_path/name, '--out', tmp_path/'o', '--random-weights'])
        _one_line(code, err, str(tmp_path/name), what)
        assert 'not found' not in err
    code, _, err = _run(['extract', clip, tmp_path/'zero.mp4', '--out', tmp_path/'o', '--random-weights'])
    _one_line(code, err, 'zero.mp4', '/dev/zero')
    assert not (tmp_path/'o').exists()
    code, _, err = _run(['detect', checkpoint, tmp_path/'zero.mp4', '--random-weights', '--out', tmp_path/'d.json'])
    _one_line(code, err, 'zero.mp4', 'character device')


# 15. --short-side 0 / --crop 0 turn resizing / cropping off, and say so; negative sizes are refused

def test_recipe_zero_is_off_and_said_negative_is_refused(tmp_path, clip):
    code, out, err = _run(['extract', clip, '--out', tmp_path/'o', '--random-weights', '--device', 'cpu',
                           '--short-side', 0, '--crop', 0, '--flow', 'farneback'])          # farneback: fast enough here
    assert code == 0, err
    assert 'resizing off' in out and 'cropping off' in out and 'NOT the benchmark recipe' in out, out
    x = np.load(tmp_path/'o'/'clip.npy')
    np.testing.assert_array_equal(x, video_features(clip, random_weights=True, device='cpu', flow='farneback', short_side=None,
                                                    crop=None))
    for opt in ('--short-side', '--crop'):
        code, _, err = _run(['extract', clip, '--out', tmp_path/'n', '--random-weights', opt, -4])
        _one_line(code, err, f'{opt} -4')
    code, _, err = _run(['extract', clip, '--out', tmp_path/'n', '--random-weights', '--device', 'cpu', '--short-side', 0,
                         '--crop', 224])
    _one_line(code, err, str(clip), '224 x 224', '128 x 96')
    assert not (tmp_path/'n').exists() or not list((tmp_path/'n').iterdir())


# 17. SIGTERM stops extraction within seconds, exit status 143, no file written

@pytest.fixture(scope='module')
def big_video(tmp_path_factory):
    "16 s at 25 fps, 640 x 480: at shorter side 480 and crop 448 each flow field and network call is four times the work."
    d = tmp_path_factory.mktemp('big')
    write_square_video(d/'big.mp4', 100, 300, 2, fps=25, size=(640, 480), side=96)
    return d/'big.mp4'


@pytest.fixture(scope='module')
def noise_video(tmp_path_factory):
    "8 s at 25 fps, 320 x 240 of fresh noise in every frame: TV-L1 works hardest on it (each flow field takes seconds)."
    import av
    d = tmp_path_factory.mktemp('noise')
    rng = np.random.default_rng(0)
    with av.open(str(d/'noise.mp4'), 'w') as c:
        s = c.add_stream('libx264', rate=25); s.width, s.height, s.pix_fmt = 320, 240, 'yuv420p'
        s.options = {'crf': '35', 'preset': 'ultrafast'}
        for _ in range(200):
            c.mux(s.encode(av.VideoFrame.from_ndarray(rng.integers(0, 256, (240, 320, 3), dtype=np.uint8), format='rgb24')))
        c.mux(s.encode())
    return d/'noise.mp4'


def _stop(args, ready: str, after: float, cwd):
    "Start `co2net ARGS`, wait for the line `ready` and `after` seconds more, send SIGTERM: (exit status, seconds, output)."
    env = {**os.environ, 'PYTHONPATH': os.pathsep.join([str(ROOT), os.environ.get('PYTHONPATH', '')]), 'PYTHONUNBUFFERED': '1'}
    p = subprocess.Popen([*CMD, *map(str, args)], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        seen = []
        while not any(ready in l for l in seen):
            line = p.stdout.readline()
            if not line: pytest.fail(f'exited {p.wait()} before {ready!r}: {"".join(seen)} {p.stderr.read()[-2000:]}')
            seen.append(line)
        time.sleep(after)
        assert p.poll() is None, 'finished before the signal: make the video longer'
        t0 = time.time(); p.send_signal(signal.SIGTERM)
        try: code = p.wait(timeout=5)                            # the finding: still running 5 s after SIGTERM
        except subprocess.TimeoutExpired: pytest.fail('still running 5 s after SIGTERM')
        latency = time.time() - t0
    finally:
        if p.poll() is None: p.kill(); p.wait()
    print(f'stop latency {latency:.2f} s')
    return code, latency, ''.join(seen) + p.stdout.read(), p.stderr.read()


def test_sigterm_stops_extract(tmp_path, big_video):
    code, latency, out, err = _stop(['extract', big_video, '--out', tmp_path/'o', '--random-weights', '--device', 'cpu',
                                     '--short-side', 480, '--crop', 448], RANDOM_WEIGHTS_NOTE, 3, tmp_path)
    assert code == 143, err
    assert 'SIGTERM' in err and len(err.strip().splitlines()) == 1, err
    assert list((tmp_path/'o').iterdir()) == []                   # no feature file, no temporary file


def test_sigterm_stops_detect_on_a_video(tmp_path, noise_video, checkpoint):
    code, latency, out, err = _stop(['detect', checkpoint, noise_video, '--random-weights', '--device', 'cpu',
                                     '--out', tmp_path/'d.json'], 'random I3D weights', 8, tmp_path)
    assert code == 143, err
    assert 'SIGTERM' in err and len(err.strip().splitlines()) == 1, err
    assert list(tmp_path.iterdir()) == []                          # no detections file, no temporary file
