"""co2net.sweep on a local Ray with 2 CPUs: a 2 x 2 sweep (two fusions x two seeds, tiny demo config) finishes,
equals the local backend bit for bit, is skipped when run again, resumes a killed run to the same result, and
reports a failing run while the others finish. About a minute on 2 CPUs (Ray's start included)."""
import os, subprocess, sys
from pathlib import Path
import pytest
import torch
from co2net.sweep import run_sweep, sweep_cmd, read_record
from co2net.train import get_config, load_checkpoint

TINY = dict(synthetic={'n_videos': 40}, max_iter=30, eval_interval=10, selection='last', lr=0.01)
GRID, SEEDS = ['fusion=ccm,concat'], [0, 1]
NAMES = ['fusion=ccm/seed_0', 'fusion=ccm/seed_1', 'fusion=concat/seed_0', 'fusion=concat/seed_1']
quiet = lambda *a: None

def tiny(): return get_config('demo', **TINY)

@pytest.fixture(scope='module')
def ray_2cpus():
    import ray   # the `sweep` extra installs it; a missing Ray is a failure here, not a skip
    from co2net.sweep import start_local_ray, stop_local_ray, RayStartError
    try: tmp = start_local_ray(2)   # a failed start is cleaned up and tried once more
    except RayStartError as e: pytest.skip(f'a local Ray did not start on this machine (too busy?): {e.reason}')
    yield ray
    stop_local_ray(tmp)

@pytest.fixture(scope='module')
def local(tmp_path_factory):
    "The 2 x 2 sweep with the local backend (one run after another in this process): the reference numbers."
    return run_sweep(tiny(), GRID, SEEDS, tmp_path_factory.mktemp('local'), backend='local', log=quiet)

def test_local_sweep_finishes(local):
    assert [s.name for s in local.runs] == NAMES
    assert local.counts == {'new': 4, 'skipped': 0, 'failed': 0}
    assert all(r['status'] == 'done' and 'AVG mAP@0.1:0.7' in r['metrics'] for r in local.records.values())
    # the numbers are not trivially equal: not all zero, and other seeds give other numbers
    avg = {k: r['metrics']['AVG mAP@0.1:0.7'] for k, r in local.records.items()}
    assert max(avg.values()) > 0 and len(set(avg.values())) == 4, avg

def test_ray_equals_local_and_rerun_skips(ray_2cpus, local, tmp_path):
    lines = []
    res = run_sweep(tiny(), GRID, SEEDS, tmp_path/'ray', backend='ray', log=lines.append)
    assert res.counts == {'new': 4, 'skipped': 0, 'failed': 0}
    assert res.metrics() == local.metrics()                       # every metric, bit for bit
    assert all(r['pid'] != os.getpid() for r in res.records.values())   # trained in Ray worker processes
    for name in NAMES:                                              # and the trained weights, bit for bit
        a = load_checkpoint(tmp_path/'ray'/name/'last.pt')['model']
        b = load_checkpoint(local.out/name/'last.pt')['model']
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), name
    assert lines[-1] == f"sweep: 4 runs (4 new, 0 skipped, 0 failed) -> {(tmp_path/'ray').resolve()/'results.md'}"
    lines.clear()
    again = run_sweep(tiny(), GRID, SEEDS, tmp_path/'ray', backend='ray', log=lines.append)
    assert lines[-1] == f"sweep: 4 runs (0 new, 4 skipped, 0 failed) -> {(tmp_path/'ray').resolve()/'results.md'}"
    assert again.metrics() == local.metrics()

KILLED = '''
import importlib, os, signal
T = importlib.import_module('co2net.train')  # the module (co2net.train is also the name of a function)
from co2net.sweep import run_sweep
save = T.save_checkpoint
def save_then_die(path, **kw):
    save(path, **kw)
    if kw['iteration'] == 10: os.kill(os.getpid(), signal.SIGKILL)   # killed right after the checkpoint of iteration 10
T.save_checkpoint = save_then_die
run_sweep(T.get_config('demo', **{tiny!r}), ['fusion=concat'], [1], {out!r}, backend='local')
'''

def test_killed_run_resumes_to_the_same_result(ray_2cpus, local, tmp_path):
    out = tmp_path/'killed'
    proc = subprocess.run([sys.executable, '-c', KILLED.format(tiny=TINY, out=str(out))], capture_output=True, text=True)
    run_dir = out/'fusion=concat'/'seed_1'
    assert proc.returncode == -9, proc.stderr[-2000:]
    assert (run_dir/'last.pt').exists() and read_record(run_dir) is None   # a checkpoint, no result
    assert load_checkpoint(run_dir/'last.pt')['iteration'] == 10
    res = run_sweep(tiny(), ['fusion=concat'], [1], out, backend='ray', log=quiet)
    rec = res.records['fusion=concat/seed_1']
    assert (res.counts, rec['resumed_from']) == ({'new': 1, 'skipped': 0, 'failed': 0}, 10)
    assert rec['metrics'] == local.records['fusion=concat/seed_1']['metrics']

def test_failing_run_is_reported_and_others_finish(ray_2cpus, tmp_path):
    lines = []
    res = run_sweep(tiny(), ['lr=0.003,1e9'], [0, 1], tmp_path/'bad', backend='ray', log=lines.append)
    assert res.counts == {'new': 2, 'skipped': 0, 'failed': 2}
    bad = res.records['lr=1000000000.0/seed_0']
    assert bad['status'] == 'failed' and bad['error'].startswith('FloatingPointError') and 'Traceback' in bad['traceback']
    assert read_record(tmp_path/'bad'/'lr=1000000000.0'/'seed_1')['status'] == 'failed'   # recorded in the run folder
    assert all(res.records[f'lr=0.003/seed_{s}']['status'] == 'done' for s in (0, 1))
    assert any('FAILED: FloatingPointError' in l for l in lines)
    md = (tmp_path/'bad'/'results.md').read_text()
    assert '## Failed runs' in md and 'lr=1000000000.0/seed_1' in md
    assert lines[-1].startswith('sweep: 4 runs (2 new, 0 skipped, 2 failed) -> ')

def test_command_last_line_and_grid_change(local, capsys):
    res = sweep_cmd(grid=GRID, seeds=SEEDS, out=str(local.out), backend='local',
                    override=['synthetic={"n_videos": 40}', 'max_iter=30', 'eval_interval=10', 'selection=last', 'lr=0.01'])
    assert res.metrics() == local.metrics()
    assert capsys.readouterr().out.splitlines()[-1] == f"sweep: 4 runs (0 new, 4 skipped, 0 failed) -> {local.out/'results.md'}"
    with pytest.raises(ValueError, match='holds another grid'):
        run_sweep(tiny(), ['fusion=ccm,se'], SEEDS, local.out, backend='local', log=quiet)
    with pytest.raises(ValueError, match=r"fields \['max_iter'\] differ"):
        run_sweep(tiny().override({'max_iter': 31}), GRID, SEEDS, local.out, backend='local', log=quiet)

NO_RAY = '''
import sys
sys.modules['ray'] = None            # as if Ray were not installed
import co2net.sweep as s
assert not s.ray_available()
res = s.run_sweep(s.get_config('demo', **{tiny!r}), ['fusion=ccm'], [0], {out!r}, log=lambda *a: None)   # backend 'auto'
assert res.counts['new'] == 1 and res.records['fusion=ccm/seed_0']['pid'] == __import__('os').getpid()
print(res.records['fusion=ccm/seed_0']['metrics']['AVG mAP@0.1:0.7'])
'''

def test_works_without_ray(local, tmp_path):
    proc = subprocess.run([sys.executable, '-c', NO_RAY.format(tiny={**TINY, 'max_iter': 10}, out=str(tmp_path/'no_ray'))],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]

def test_command_exits_1_when_a_run_failed(tmp_path, capsys):
    "A sweep whose runs partly fail still finishes the others, and `co2net sweep` then exits with status 1."
    from co2net.cli import run_command
    args = ['sweep', '--preset', 'demo', '--grid', 'lr=0.003,1e9', '--seeds', '0', '--backend', 'local',
            '--out', str(tmp_path/'s'), '--override', 'synthetic={"n_videos": 40}', 'max_iter=20', 'eval_interval=10',
            'selection=last']
    assert run_command(args) == 1
    assert capsys.readouterr().out.splitlines()[-1].startswith('sweep: 2 runs (1 new, 0 skipped, 1 failed) -> ')
    assert run_command(args[:4] + ['lr=0.003'] + args[5:] + ['--allow-grid-change']) == 0   # the finished run alone
