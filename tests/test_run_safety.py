"""Run folders, configuration and the command line under careless or hostile use (issue 19, items 2, 3, 6, 8-12,
14-16): each case as a user would type it, one line of error naming the file or option, nothing lost.

Subprocesses where the process matters (two drivers, signals, exit status); `run_command` in this process elsewhere."""
import errno, io, json, os, shutil, signal, subprocess, sys, time
from pathlib import Path

import numpy as np
import pytest

from cli_common import run, tree
import torch

ROOT = Path(__file__).resolve().parents[1]
SYN = {'n_videos': 24, 'feature_dim': 16, 'n_classes': 4, 'seed': 0, 'duration': [10, 30]}
SMALL = ['max_seqlen=32', 'batch_size=6', 'n_pairs=2', 'max_iter=6', 'eval_interval=3', 'log_every=1', 'progress=false']
TINY = [f'synthetic={json.dumps(SYN)}', *SMALL]

def tiny(**changes):
    "TINY with some fields changed (a key given twice is refused)."
    return [o for o in TINY if o.split('=')[0] not in changes] + [f'{k}={v}' for k, v in changes.items()]
CLI = 'import sys; from co2net.cli import main; sys.argv[0] = "co2net"; main()'
ENV = {**os.environ, 'PYTHONUNBUFFERED': '1', 'OMP_NUM_THREADS': '1'}


def co2net(*args, cwd, expect=0):
    "`co2net ARGS` in a subprocess; checks the exit status."
    p = subprocess.run([sys.executable, '-c', CLI, *map(str, args)], cwd=cwd, capture_output=True, text=True, env=ENV, timeout=600)
    assert p.returncode == expect, f'co2net {" ".join(map(str, args))} exited {p.returncode}\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}'
    return p


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and 'Traceback' not in err, err
    return lines[0]


@pytest.fixture(scope='module')
def finished(tmp_path_factory):
    "Two finished tiny runs, A (seed 0) and B (seed 1), and the same run as A but 9 iterations long (for exactness)."
    d = tmp_path_factory.mktemp('runs')
    for name, over in (('A', tiny(seed=0)), ('B', tiny(seed=1)), ('A9', tiny(seed=0, max_iter=9))):
        run('train', '--preset', 'demo', '--out', d/name, '--device', 'cpu', '--override', *over)
    return d


# ---------------------------------------------------------------- item 2: resume writes next to its checkpoint

def test_resume_of_a_copied_run_writes_next_to_the_copy(finished, tmp_path):
    "`--resume COPY/last.pt` continues in COPY, not in the folder saved in the checkpoint (the original run)."
    shutil.copytree(finished/'A', tmp_path/'COPY')
    before = tree(finished/'A')
    out, _ = run('train', '--resume', tmp_path/'COPY'/'last.pt', '--max-iter', 9)
    assert tree(finished/'A') == before, 'the original run was written to'   # the original run is untouched
    assert out.splitlines()[0] == f"co2net train: resuming {tmp_path/'COPY'/'last.pt'}, writing to {tmp_path/'COPY'}"
    from co2net.train import load_checkpoint
    a, b = load_checkpoint(tmp_path/'COPY'/'last.pt'), load_checkpoint(finished/'A9'/'last.pt')
    assert a['iteration'] == 9 and all(torch.equal(a['model'][k], b['model'][k]) for k in a['model'])   # exact resume
    assert json.loads((tmp_path/'COPY'/'config.json').read_text())['out_dir'] == str(tmp_path/'COPY')


def test_resume_into_a_finished_run_needs_overwrite(finished, tmp_path):
    "`--resume A/last.pt --out B` with a finished run in B: refused, B untouched; with --overwrite B holds the resumed run."
    shutil.copytree(finished/'B', tmp_path/'B')
    before_a, before_b = tree(finished/'A'), tree(tmp_path/'B')
    out, err = run('train', '--resume', finished/'A'/'last.pt', '--max-iter', 9, '--out', tmp_path/'B', expect=2)
    assert out.splitlines()[0] == f"co2net train: resuming {finished/'A'/'last.pt'}, writing to {tmp_path/'B'} (a new run folder)"
    assert f"output folder {tmp_path/'B'} is not empty" in one_line(err) and '--overwrite' in err
    assert tree(tmp_path/'B') == before_b
    run('train', '--resume', finished/'A'/'last.pt', '--max-iter', 9, '--out', tmp_path/'B', '--overwrite')
    from co2net.train import load_checkpoint, read_metrics
    st = load_checkpoint(tmp_path/'B'/'last.pt')
    assert st['iteration'] == 9 and st['config']['seed'] == 0                 # A's run, continued in B
    recs = read_metrics(tmp_path/'B'/'metrics.jsonl')
    assert [r['iter'] for r in recs if r['kind'] == 'train'] == list(range(1, 10))      # A's history, then 7..9, once each
    assert [r['iter'] for r in recs if r['kind'] == 'eval'] == [3, 6, 9]
    assert json.loads((tmp_path/'B'/'results.json').read_text())['config']['seed'] == 0
    assert tree(finished/'A') == before_a
    # an absent --out: written there; --overwrite without another --out would replace the run it continues: refused
    run('train', '--resume', finished/'A'/'last.pt', '--max-iter', 9, '--out', tmp_path/'C')
    assert load_checkpoint(tmp_path/'C'/'last.pt')['iteration'] == 9 and tree(finished/'A') == before_a
    _, err = run('train', '--resume', finished/'A'/'last.pt', '--max-iter', 9, '--overwrite', expect=2)
    assert '--overwrite would replace it' in one_line(err) and tree(finished/'A') == before_a


# ---------------------------------------------------------------- item 3: one driver per run folder

def test_second_driver_on_a_running_folder_is_refused(tmp_path):
    "Two `co2net train` on one folder: the second (with --overwrite, or --resume) is refused naming the holder."
    over = [f'synthetic={json.dumps(SYN)}', 'max_seqlen=32', 'batch_size=6', 'n_pairs=2', 'max_iter=100000',
            'eval_interval=5', 'log_every=1']
    first = subprocess.Popen([sys.executable, '-c', CLI, 'train', '--preset', 'demo', '--out', str(tmp_path/'run'), '--device',
                              'cpu', '--override', *over], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, env=ENV)
    try:
        t0 = time.time()
        while not (tmp_path/'run'/'last.pt').exists() and first.poll() is None and time.time() - t0 < 300: time.sleep(0.1)
        assert first.poll() is None, first.communicate()
        for extra in (['--preset', 'demo', '--out', tmp_path/'run', '--overwrite', '--override', *TINY],
                      ['--resume', tmp_path/'run'/'last.pt', '--max-iter', 200000]):
            p = co2net('train', *extra, cwd=tmp_path, expect=2)
            line = one_line(p.stderr)
            assert f"run folder {tmp_path/'run'} is in use by pid {first.pid} on host" in line, line
            assert (tmp_path/'run'/'config.json').exists() and (tmp_path/'run'/'last.pt').exists()   # nothing deleted
        assert first.poll() is None                                              # the first run goes on
        first.send_signal(signal.SIGTERM)
        out, err = first.communicate(timeout=120)
    finally:
        if first.poll() is None: first.kill()
    assert first.returncode == 143, err
    from co2net.train import read_metrics, load_checkpoint
    its = [r['iter'] for r in read_metrics(tmp_path/'run'/'metrics.jsonl', drop_torn_tail=True) if r['kind'] == 'train']
    assert its == list(range(1, len(its) + 1))                                   # every record once: no second writer
    assert json.loads((tmp_path/'run'/'config.json').read_text())['max_iter'] == 100000
    assert load_checkpoint(tmp_path/'run'/'last.pt')['config']['max_iter'] == 100000
    assert not (tmp_path/'run'/'.co2net.lock').exists()


# ---------------------------------------------------------------- item 6: a refused run leaves no debris

def test_refused_run_leaves_the_folder_as_it_found_it(tmp_path):
    "Refused for an empty validation split: no out/data left, and the corrected command runs without --overwrite."
    _, err = run('train', '--preset', 'demo', '--out', tmp_path/'run', '--override', *SMALL,
                 'synthetic={"n_videos": 40}', expect=2)
    assert 'validation split is empty' in one_line(err)
    assert not (tmp_path/'run').exists()
    (tmp_path/'empty').mkdir()
    run('train', '--preset', 'demo', '--out', tmp_path/'empty', '--override', *SMALL, 'synthetic={"n_videos": 40}', expect=2)
    assert list((tmp_path/'empty').iterdir()) == []
    run('train', '--preset', 'demo', '--out', tmp_path/'run', '--device', 'cpu', '--override', *TINY)
    assert (tmp_path/'run'/'results.json').exists()


def test_synthetic_data_only_into_a_new_or_its_own_folder(tmp_path):
    "data_root naming a folder with other files (as /etc would) is refused before anything is written."
    mine = tmp_path/'mine'; mine.mkdir(); (mine/'notes.txt').write_text('my notes')
    _, err = run('train', '--preset', 'demo', '--data-root', mine, '--out', tmp_path/'run', '--override', *TINY, expect=2)
    assert f'data folder {mine} holds other files (notes.txt)' in one_line(err)
    assert tree(mine) == {'notes.txt': b'my notes'} and not (tmp_path/'run').exists()
    (tmp_path/'afile').write_text('x')
    _, err = run('train', '--preset', 'demo', '--data-root', tmp_path/'afile', '--out', tmp_path/'run', '--override', *TINY, expect=2)
    assert 'is a file, not a folder' in one_line(err)
    # a new folder is created and filled; the same data again is reused; the library refuses the same way
    from co2net.config import get_config, make_demo_data
    cfg = get_config('demo', data_root=str(tmp_path/'new'), synthetic=SYN)
    make_demo_data(cfg); make_demo_data(cfg)
    assert any((tmp_path/'new').glob('SynDemo-*'))
    with pytest.raises(FileExistsError, match='holds other files'): make_demo_data(cfg.override({'data_root': str(mine)}))


# ---------------------------------------------------------------- items 8, 9: overrides and config files

def test_repeated_override_is_merged_and_a_conflict_refused(tmp_path):
    run('train', '--preset', 'demo', '--out', tmp_path/'run', '--device', 'cpu', '--override', *TINY,
        '--override', 'lr=0.01', '--override', 'gamma=0.7')
    cfg = json.loads((tmp_path/'run'/'config.json').read_text())
    assert (cfg['lr'], cfg['gamma'], cfg['max_iter']) == (0.01, 0.7, 6)       # every --override counts
    for extra in (['--override', 'lr=0.5', '--override', 'lr=0.1'], ['--max-iter', 5, '--override', 'max_iter=7']):
        _, err = run('train', '--preset', 'demo', '--out', tmp_path/'run2', '--override', *TINY, *extra, expect=2)
        assert 'is given twice' in one_line(err)
    assert not (tmp_path/'run2').exists()


def test_config_file_missing_a_field_is_refused(tmp_path):
    from co2net.config import get_config
    d = get_config('demo', out_dir=str(tmp_path/'run'), max_iter=2, eval_interval=1, synthetic=SYN, max_seqlen=32,
                   batch_size=6, n_pairs=2, device='cpu', progress=False).to_dict()
    d['loss_terms'] = list(d['loss_terms'])
    json.dump({k: v for k, v in d.items() if k not in ('lr', 'gamma')}, open(tmp_path/'partial.json', 'w'))
    _, err = run('train', '--config', tmp_path/'partial.json', expect=2)
    line = one_line(err)
    assert f"config file {tmp_path/'partial.json'} lacks 2 field(s): lr, gamma" in line and '--preset' in line
    assert not (tmp_path/'run').exists()
    json.dump(d, open(tmp_path/'full.json', 'w'))                            # every field: accepted
    run('train', '--config', tmp_path/'full.json')
    assert json.loads((tmp_path/'run'/'config.json').read_text()) == d


# ---------------------------------------------------------------- item 10: the kept checkpoint is what is on disk

def test_sigterm_during_a_checkpoint_write_reports_the_file_on_disk(tmp_path, monkeypatch, capsys):
    "A SIGTERM that arrives while last.pt (iteration 6) is written: the file is completed, and the message says 6."
    from co2net import runs
    from co2net.train import train, get_config, load_checkpoint
    real, writes = runs.write_all_or_nothing, []
    def write_and_signal(path, data, **kw):
        if Path(path).name == 'last.pt':
            writes.append(path)
            if len(writes) == 2: os.kill(os.getpid(), signal.SIGTERM)       # during the second last.pt write
        return real(path, data, **kw)
    monkeypatch.setattr(runs, 'write_all_or_nothing', write_and_signal)
    cfg = get_config('demo', out_dir=str(tmp_path/'run'), synthetic=SYN, max_seqlen=32, batch_size=6, n_pairs=2,
                     max_iter=9, eval_interval=3, log_every=1, device='cpu', progress=False)
    with pytest.raises(runs.Interrupted): train(cfg, verbose=False)
    err = capsys.readouterr().err
    assert load_checkpoint(tmp_path/'run'/'last.pt')['iteration'] == 6
    assert f"kept {tmp_path/'run'/'last.pt'} (iteration 6)" in err, err


# ---------------------------------------------------------------- item 12: num_threads bounded

@pytest.mark.parametrize('n', ['100000', '5000', 'cores'])
def test_num_threads_bounded(tmp_path, n):
    cores = len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count()
    value = str(4 * cores + 1) if n == 'cores' else n
    _, err = run('train', '--preset', 'demo', '--out', tmp_path/'run', '--override', *TINY, f'num_threads={value}', expect=2)
    assert f'num_threads={value}' in one_line(err)
    assert ('in [0, 1024]' if n != 'cores' else 'more than 4 threads per CPU core') in err
    assert not (tmp_path/'run').exists()                                     # no config.json, no metrics.jsonl


def test_checkpoint_with_more_threads_than_this_machine_still_loads():
    "A config made on a larger machine (num_threads=64) is valid here: evaluation reads it; only training here refuses it."
    from co2net.config import get_config, check_num_threads, cpu_cores
    cfg = get_config('demo', num_threads=64)
    if cpu_cores() < 16:
        with pytest.raises(ValueError, match='more than 4 threads per CPU core'): check_num_threads(cfg)


# ---------------------------------------------------------------- item 14: deeply nested JSON

def test_deeply_nested_json_is_one_line(tmp_path):
    deep = '[' * 100000 + ']' * 100000
    (tmp_path/'deep.json').write_text(deep)
    _, err = run('train', '--config', tmp_path/'deep.json', '--out', tmp_path/'run', expect=2)
    assert 'nested too deeply' in one_line(err) and str(tmp_path/'deep.json') in err
    for over in (f'synthetic={{"a": {deep}}}', f'loss_terms={deep}'):
        _, err = run('train', '--preset', 'demo', '--out', tmp_path/'run', '--override', over, expect=2)
        assert 'nested too deeply' in one_line(err) and len(err) < 500
    assert not (tmp_path/'run').exists()


# ---------------------------------------------------------------- item 15: errors that mislead or say too little

class Payload:
    def __init__(self, marker): self.marker = str(marker)
    def __reduce__(self): return (os.system, (f'touch {self.marker}',))


def test_checkpoint_with_a_pickle_payload_is_refused_without_unsafe_advice(tmp_path):
    torch.save({'format': 'co2net-checkpoint-v1', 'x': Payload(tmp_path/'marker')}, tmp_path/'evil.pt')
    for cmd in (['evaluate', tmp_path/'evil.pt'], ['detect', tmp_path/'evil.pt', ROOT/'data_samples'/'i3d_real'/'highjump.npy',
                                                    '--out', tmp_path/'d.json'], ['train', '--resume', tmp_path/'evil.pt']):
        _, err = run(*cmd, expect=2)
        line = one_line(err)
        assert f"checkpoint {tmp_path/'evil.pt'} holds Python code or objects" in line and 'refused' in line, line
        assert 'weights_only' not in line and 'can still be loaded' not in line and 'Re-running' not in line
    assert not (tmp_path/'marker').exists()


def test_disk_full_names_the_path_and_no_space(tmp_path, monkeypatch):
    "torch.save hitting a full disk: 'No space left on device' and the path, not torch's internal 'enforce fail' text."
    from co2net.train import get_config, save_checkpoint, load_checkpoint
    meta = {'classes': ['a', 'b'], 'n_classes': 2, 'feat_dim': 4}
    save_checkpoint(tmp_path/'last.pt', model=torch.nn.Linear(4, 2), config=get_config('demo'), iteration=1, meta=meta)
    real_fdopen = os.fdopen
    class Full(io.RawIOBase):                       # a disk with 2 kB left
        def __init__(self, f): self.f, self.n = f, 0
        def writable(self): return True
        def write(self, b):
            self.n += len(b)
            if self.n > 2000: raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            return self.f.write(b)
        def flush(self): self.f.closed or self.f.flush()
        def fileno(self): return self.f.fileno()
        def close(self): super().close(); self.f.close()
    monkeypatch.setattr(os, 'fdopen', lambda fd, mode='r', *a, **k: Full(real_fdopen(fd, mode, *a, **k)))
    with pytest.raises(OSError) as e:
        save_checkpoint(tmp_path/'last.pt', model=torch.nn.Linear(400, 200), config=get_config('demo'), iteration=2, meta=meta)
    monkeypatch.undo()
    msg = str(e.value)
    assert f"could not write checkpoint {tmp_path/'last.pt'}: No space left on device" in msg, msg
    assert 'enforce fail' not in msg and 'inline_container' not in msg and '\n' not in msg
    assert load_checkpoint(tmp_path/'last.pt')['iteration'] == 1 and list(tmp_path.glob('.*.tmp')) == []


def test_output_under_a_regular_file_says_so(finished, tmp_path):
    afile = tmp_path/'afile'; afile.write_text('x')
    feats = ROOT/'data_samples'/'SynThumos-I3D-JOINTFeatures.npy'
    for cmd in (['train', '--preset', 'demo', '--out', afile/'run', '--override', *TINY],
                ['train', '--resume', finished/'A'/'last.pt', '--out', afile/'run'],
                ['evaluate', finished/'A'/'last.pt', '--out', afile/'x.json'],
                ['detect', finished/'A'/'last.pt', ROOT/'data_samples'/'i3d_real'/'highjump.npy', '--out', afile/'d.json'],
                ['convert', feats, '--annotations', ROOT/'data_samples'/'SynThumos-Annotations', '--out', afile/'conv']):
        _, err = run(*cmd, expect=2)
        assert f'{afile} is a file, not a folder' in one_line(err), (cmd[0], err)
    assert afile.read_text() == 'x'


# ---------------------------------------------------------------- item 16: output paths before compute

def test_outputs_are_checked_before_any_input_is_read(tmp_path):
    "A corrupt input and an unusable output: the error is about the output (it was checked first)."
    afile = tmp_path/'afile'; afile.write_text('x')
    bad = tmp_path/'Bad-I3D-JOINTFeatures.npy'
    bad.write_bytes((ROOT/'data_samples'/'SynThumos-I3D-JOINTFeatures.npy').read_bytes()[:5000])      # truncated
    _, err = run('convert', bad, '--annotations', ROOT/'data_samples'/'SynThumos-Annotations', '--out', afile/'conv', expect=2)
    assert f'{afile} is a file, not a folder' in one_line(err) and 'truncated' not in err
    (tmp_path/'broken.pt').write_bytes(b'not a checkpoint')
    _, err = run('train', '--resume', tmp_path/'broken.pt', '--out', afile/'run', expect=2)
    assert f'{afile} is a file, not a folder' in one_line(err) and 'broken.pt' not in err
    shutil.copytree(ROOT/'data_samples'/'SynThumos-Annotations', tmp_path/'data'/'SynThumos-Annotations')
    (tmp_path/'data'/'SynThumos-Annotations'/'segments.npy').write_bytes(b'garbage')
    _, err = run('train', '--override', 'dataset=SynThumos', f"data_root={tmp_path/'data'}", '--out', afile/'run', expect=2)
    assert f'{afile} is a file, not a folder' in one_line(err) and 'segments.npy' not in err


# ---------------------------------------------------------------- item 11: how detect's features were made

def test_detect_records_how_features_were_made(finished, tmp_path):
    run('detect', finished/'A'/'last.pt', tmp_path/'x.npy', '--out', tmp_path/'d.json', expect=2)   # absent input
    np.save(tmp_path/'v1.npy', np.random.default_rng(0).standard_normal((40, 32)).astype(np.float32))
    run('detect', finished/'A'/'last.pt', tmp_path/'v1.npy', '--out', tmp_path/'d.json', '--device', 'cpu')
    js = json.loads((tmp_path/'d.json').read_text())
    assert js['features'] == {'random_weights': None, 'extracted_from_videos': [], 'feature_files': [str(tmp_path/'v1.npy')]}
    assert set(js) == {'version', 'results', 'external_data', 'features', 'time_step'}
    from co2net.localize import read_results_json                          # still a results file co2net reads
    read_results_json(tmp_path/'d.json', torch.load(finished/'A'/'last.pt', weights_only=True)['meta']['classes'])


# ---------------------------------------------------------------- item 17 (detect VIDEO): SIGTERM during extraction

def test_detect_video_stops_on_sigterm_and_writes_nothing(tmp_path):
    """SIGTERM while `co2net detect VIDEO --random-weights` extracts features: exit 143, one line, no output and no
    temporary file. (How fast it ends is measured by bench/stop_latency.py: no timing assertion here.)"""
    pytest.importorskip('av'); pytest.importorskip('cv2')
    sys.path.insert(0, str(ROOT/'bench'))
    import stop_latency
    stop_latency.write_video(tmp_path/'clip.mp4', 300); stop_latency.checkpoint(tmp_path/'ck.pt')
    (tmp_path/'out').mkdir()
    rc, dt, what = stop_latency.one_run('on', tmp_path/'ck.pt', tmp_path/'clip.mp4', tmp_path/'out'/'dets.json', 3)
    assert rc == 143 and dt is not None, (rc, what)
    assert list((tmp_path/'out').iterdir()) == [], what
    # one line, from whichever stop came first: the extractor's own, or the command line's hard stop
    assert 'interrupted by SIGTERM' in what and what.endswith('nothing was written') or \
           'interrupted by SIGTERM while extracting the features of' in what, what
