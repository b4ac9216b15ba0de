"""The README's examples run as written.

The Python block of "Using co2net from Python" is taken from README.md and run in a scratch folder that holds
an official-format checkpoint with random weights (`CO2_3552.pkl`, the file name the example uses) and the
bundled real I3D sequence; the official-protocol training command of "Reproducing the paper setting" is run
on the synthetic demo preset for a few iterations.
"""
import json, re, subprocess, sys
from pathlib import Path
import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT/'README.md').read_text()

def readme_block(heading: str, lang: str) -> str:
    "The first ```lang block after `heading` in README.md."
    start = README.index(heading)
    m = re.compile(rf'```{lang}\n(.*?)```', re.S).search(README, start)
    assert m, f'no {lang} block after {heading!r}'
    return m.group(1)

def test_python_example_gives_detections_in_seconds(tmp_path):
    from co2net.model import CO2Net, to_official_state_dict
    from co2net.data import THUMOS14_CLASSES, SECONDS_PER_SNIPPET
    code = readme_block('## Using co2net from Python', 'python')
    assert len(code.strip().splitlines()) <= 5, 'the README promises an example of at most 5 lines'
    torch.manual_seed(0)
    torch.save(to_official_state_dict(CO2Net(n_classes=20)), tmp_path/'CO2_3552.pkl')
    (tmp_path/'data_samples').symlink_to(ROOT/'data_samples')
    p = subprocess.run([sys.executable, '-c', code], cwd=tmp_path, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    js = json.loads((tmp_path/'detections.json').read_text())
    dets = js['results']['highjump']
    assert dets, 'random weights on a real sequence still give detections (attention about 0.5)'
    scores = [d['score'] for d in dets]
    assert scores == sorted(scores, reverse=True)                        # best first
    assert {d['label'] for d in dets} <= set(THUMOS14_CLASSES)
    T = np.load(ROOT/'data_samples'/'i3d_real'/'highjump.npy').shape[0]
    step = 24.2 / T                                                     # the source video's duration over its rows
    assert js['time_step']['seconds_per_row'] == pytest.approx(step)     # the file says which time step made its seconds
    for d in dets:                                                      # seconds on the file's own row grid, within 24.2 s
        s, e = np.array(d['segment']) / step
        assert 0 <= s < e <= T + 1e-6 and abs(s - round(s)) < 1e-6 and abs(e - round(e)) < 1e-6
    assert 'Kinetics' not in json.dumps(js['external_data'])            # the example states no feature source

def test_official_protocol_command_trains_on_all_training_videos(tmp_path):
    cmd = readme_block('The paper\'s (official) protocol', 'bash').replace('\\\n', ' ').split()
    assert cmd[:4] == ['co2net', 'train', '--preset', 'thumos14'] and '--selection' in cmd and 'val_fraction=0' in cmd
    # the same switches on the synthetic demo preset, a few iterations (no THUMOS14 features here)
    args = ['train', '--preset', 'demo', '--selection', 'test', '--override', 'val_fraction=0', 'max_iter=20',
            'eval_interval=10', '--out', str(tmp_path/'run')]
    p = subprocess.run([sys.executable, '-c', 'import sys; from co2net.cli import run_command; sys.exit(run_command(sys.argv[1:]))',
                        *args], cwd=tmp_path, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr[-3000:]
    res = json.loads((tmp_path/'run'/'results.json').read_text())
    assert res['train_videos'] == 100, res['train_videos']              # all 100 training videos of the demo set
    assert 'test (official, optimistic)' in json.dumps(res)

def test_top_level_names_hide_no_submodule():
    "`import co2net.train as T` must give the module: no top-level export may carry a submodule's name."
    import importlib, co2net
    for f in sorted((ROOT/'co2net').glob('[a-z]*.py')):
        mod = importlib.import_module(f'co2net.{f.stem}')
        assert getattr(co2net, f.stem) is mod, f'co2net.{f.stem} is {getattr(co2net, f.stem)!r}, not the module'
    assert set(co2net.__all__) <= set(dir(co2net))
