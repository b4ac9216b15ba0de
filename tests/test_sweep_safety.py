"""`co2net sweep` used carelessly or with hostile input, through the real command in subprocesses: two drivers on
one folder, a dead driver's lock, path fields in a grid, a huge grid, deeply nested JSON, an unreachable Ray
cluster, a worker lost in the middle of a run, and a local Ray that fails to start.

Each error is one line that names the option or file; nothing is written when a sweep is refused."""
import json, os, shutil, signal, subprocess, sys, tempfile, time, tomllib
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
# tiny synthetic runs (small features, few videos): seconds each
TINY = ['synthetic={"n_videos": 24, "feature_dim": 16, "n_classes": 4, "seed": 0, "duration": [10, 30]}', 'max_seqlen=32',
        'batch_size=6', 'n_pairs=2', 'selection=last', 'log_every=1']
CMD = [sys.executable, '-c', 'import sys; from co2net.cli import main; sys.argv[0] = "co2net"; main()']


def env(**kw):
    return {**os.environ, 'PYTHONPATH': os.pathsep.join([str(ROOT), os.environ.get('PYTHONPATH', '')]),
            'PYTHONUNBUFFERED': '1', 'OMP_NUM_THREADS': '1', **kw}


def sweep(*args, cwd, timeout=120, **kw):
    "Run `co2net sweep ARGS` in a subprocess to its end: the CompletedProcess."
    return subprocess.run([*CMD, 'sweep', *map(str, args)], cwd=cwd, capture_output=True, text=True, env=env(**kw),
                          timeout=timeout)


def start(*args, cwd, **kw):
    "Start `co2net sweep ARGS` in a subprocess (stdout and stderr merged, line by line)."
    return subprocess.Popen([*CMD, 'sweep', *map(str, args)], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env=env(**kw))


def wait_for(cond, timeout=180, what='condition'):
    t0 = time.time()
    while not cond():
        if time.time() - t0 > timeout: raise AssertionError(f'timed out waiting for {what}')
        time.sleep(0.2)


def one_line_error(p, *texts):
    "Exit status 2 and exactly one line on stderr that holds every text."
    lines = p.stderr.strip().splitlines()
    assert p.returncode == 2 and len(lines) == 1, f'exit {p.returncode}\n{p.stdout[-2000:]}\n{p.stderr[-3000:]}'
    for t in texts: assert t in lines[0], lines[0]
    return lines[0]


# 3. two drivers on one sweep folder; a dead driver's lock is taken over

def read_until(proc, text, timeout=180):
    "Lines of `proc`'s output up to the first that contains `text`."
    seen, t0 = [], time.time()
    while time.time() - t0 < timeout:
        line = proc.stdout.readline()
        if not line:
            if proc.poll() is not None: break
            continue
        seen.append(line)
        if text in line: return seen
    raise AssertionError(f'no line with {text!r} in:\n' + ''.join(seen[-40:]))


def test_second_driver_is_refused_and_a_dead_drivers_lock_taken_over(tmp_path):
    out = tmp_path/'sweep'
    args = ['--grid', 'fusion=ccm,concat', '--seeds', 0, '--backend', 'local', '--out', out,
            '--override', *TINY, 'max_iter=5000', 'eval_interval=1000']
    a = start(*args, cwd=tmp_path)
    try:
        wait_for(lambda: (out/'sweep.json').exists(), what='the first driver to start')
        b = sweep(*args, cwd=tmp_path, timeout=90)
        one_line_error(b, f'sweep folder {out}', f'in use by pid {a.pid} on host')
        assert not list(out.rglob('sweep_run.json'))             # the second driver recorded nothing
    finally:
        a.kill(); a.wait()
    # the first driver is dead (SIGKILL: no clean-up); its lock file is left behind
    c, started = start(*args, cwd=tmp_path), time.time()
    try:
        lines = read_until(c, 'took over the lock')
        assert any(f'pid {a.pid}' in l and 'no longer running' in l for l in lines), ''.join(lines)
        wait_for(lambda: any(m.stat().st_mtime > started and m.stat().st_size for m in out.rglob('metrics.jsonl')),
                 what='the sweep that took over to train')          # it trains: a training record written since it started
    finally:
        c.send_signal(signal.SIGTERM); rc = c.wait(timeout=120)
    assert rc == 143
    assert not (out/'.co2net.lock').exists()                      # released on the way out


# 4. path-valued fields are not grid keys

def test_path_fields_are_not_grid_keys(tmp_path):
    target = tmp_path/'etc'; target.mkdir()
    p = sweep('--grid', f'data_root={target}', '--backend', 'local', '--out', tmp_path/'s', '--override', *TINY,
              'max_iter=4', 'eval_interval=2', cwd=tmp_path)
    one_line_error(p, "'data_root'")
    assert list(target.iterdir()) == [] and not (tmp_path/'s').exists()   # nothing generated, no sweep folder
    for field in ('out_dir', 'features', 'dataset'):
        p = sweep('--grid', f'{field}={target}/x', '--backend', 'local', '--out', tmp_path/'s', cwd=tmp_path)
        one_line_error(p, repr(field))
    (tmp_path/'pts.json').write_text(json.dumps([{'fusion': 'ccm'}, {'data_root': str(target)}]))
    p = sweep('--points', tmp_path/'pts.json', '--backend', 'local', '--out', tmp_path/'s', cwd=tmp_path)
    one_line_error(p, str(tmp_path/'pts.json'), "'data_root'")
    assert list(target.iterdir()) == [] and not (tmp_path/'s').exists()


# 13. the size of a sweep is counted before anything is built

def test_huge_grid_is_counted_and_refused_at_once(tmp_path):
    grid = [f'lr={",".join(f"{(i + 1) * 1e-6:g}" for i in range(1000))}',
            f'weight_decay={",".join(f"{i * 1e-6:g}" for i in range(1000))}',
            f'gamma={",".join(f"{i / 100:g}" for i in range(100))}']
    p = sweep('--grid', *grid, '--backend', 'local', '--out', tmp_path/'s', cwd=tmp_path, timeout=60)
    assert '100,000,000 runs' in p.stdout, p.stdout
    one_line_error(p, '--max-runs', '100,000,000')
    assert not (tmp_path/'s').exists()
    p = sweep('--grid', 'fusion=ccm,concat,se', '--seeds', 0, 1, '--max-runs', 5, '--backend', 'local', '--out', tmp_path/'s',
              cwd=tmp_path)
    one_line_error(p, '6 runs', '--max-runs 5')


# 14. deeply nested JSON

def test_deeply_nested_json_is_one_line(tmp_path):
    deep = '[' * 100_000 + ']' * 100_000
    (tmp_path/'deep.json').write_text(deep)
    p = sweep('--points', tmp_path/'deep.json', '--backend', 'local', '--out', tmp_path/'s', cwd=tmp_path)
    one_line_error(p, str(tmp_path/'deep.json'), 'nested too deeply')
    (tmp_path/'deep2.json').write_text('[{"lr": ' + deep + '}]')
    p = sweep('--points', tmp_path/'deep2.json', '--backend', 'local', '--out', tmp_path/'s', cwd=tmp_path)
    one_line_error(p, str(tmp_path/'deep2.json'), 'nested too deeply')
    arg = '[' * 20_000 + ']' * 20_000                    # a command-line argument is limited to 128 KiB
    p = sweep('--grid', 'lr=' + arg, '--backend', 'local', '--out', tmp_path/'s', cwd=tmp_path)
    one_line_error(p, 'lr', 'nested too deeply')
    p = sweep('--grid', 'synthetic.seed=' + arg, '--backend', 'local', '--out', tmp_path/'s', cwd=tmp_path)
    one_line_error(p, 'synthetic.seed', 'nested too deeply')
    assert not (tmp_path/'s').exists()


# 18. Ray Client: the extra installs it; a failed connection leaves nothing

def test_sweep_extra_has_ray_client():
    extras = tomllib.loads((ROOT/'pyproject.toml').read_text())['project']['optional-dependencies']
    assert any(r.replace(' ', '').startswith('ray[client]') for r in extras['sweep']), extras['sweep']


def test_unreachable_ray_cluster_leaves_nothing(tmp_path):
    pytest.importorskip('ray')
    out = tmp_path/'new'/'sweep'
    p = sweep('--grid', 'fusion=ccm', '--backend', 'ray', '--address', 'ray://127.0.0.1:9', '--out', out, '--override', *TINY,
              'max_iter=4', 'eval_interval=2', cwd=tmp_path, RAY_CLIENT_INITIAL_CONNECTION_TIMEOUT_S='1')
    lines = p.stderr.strip().splitlines()
    assert p.returncode == 1 and len(lines) == 1 and 'ray://127.0.0.1:9' in lines[0], p.stderr[-3000:]
    assert not (tmp_path/'new').exists()                          # no sweep.json, no folder


# 19. a worker lost in the middle of a run: the retry is printed, every record names its Ray node

def test_lost_worker_is_retried_visibly_and_records_name_the_node(tmp_path):
    pytest.importorskip('ray')
    out = tmp_path/'s'
    run_dir = out/'fusion=ccm'/'seed_0'
    a = start('--grid', 'fusion=ccm', '--seeds', 0, '--backend', 'ray', '--ray-cpus', 1, '--retries', 1, '--out', out,
              '--override', *TINY, 'max_iter=600', 'eval_interval=20', cwd=tmp_path)
    try:
        wait_for(lambda: (run_dir/'last.pt').exists() or a.poll() is not None, timeout=400, what='the first checkpoint')
        if a.poll() is not None:
            text = a.stdout.read()
            if 'could not start a local Ray' in text: pytest.skip(f'a local Ray did not start on this machine: {text[-500:]}')
            pytest.fail(text[-3000:])
        holder = json.loads((run_dir/'.co2net.lock').read_text())  # the Ray worker process that trains the run
        os.kill(holder['pid'], signal.SIGKILL)                    # as if its node were lost
        lines = read_until(a, 'retry', timeout=120)
        rest, _ = a.communicate(timeout=900)
    except BaseException:
        a.kill(); a.wait(); raise
    assert a.returncode == 0, ''.join(lines) + rest
    line = [l for l in lines if 'retry' in l][-1]
    assert '[retry 1/1] fusion=ccm, seed 0: lost its Ray worker (WorkerCrashedError' in line, line
    rec = json.loads((run_dir/'sweep_run.json').read_text())
    assert rec['status'] == 'done' and rec['attempt'] == 2 and rec['resumed_from'] >= 20, rec   # from its last checkpoint
    assert rec['earlier_attempts'][0].startswith('WorkerCrashedError'), rec
    assert rec['host'] and rec['pid'] != holder['pid'], rec
    assert len(rec['ray_node']) == 56 and int(rec['ray_node'], 16) >= 0, rec   # the Ray node id, next to host and pid


# 20. a local Ray that fails to start: tried again, cleaned up, and `auto` falls back to the local backend

FAILING_RAY = '''
import os, sys
import ray._private.node as N
start = N.Node.start_ray_processes
def start_then_fail(self, *a, **kw):
    start(self, *a, **kw)                  # Ray's processes are running; then the start-up fails, as on a loaded machine
    raise Exception("The current node timed out during startup (simulated)")
N.Node.start_ray_processes = start_then_fail
from co2net.sweep import run_sweep, get_config
lines = []
def left():
    mine = os.environ["RAY_TMPDIR"].encode()
    found = []
    for p in os.listdir("/proc"):
        if not p.isdigit() or int(p) == os.getpid(): continue
        try:
            if mine in open(f"/proc/{{p}}/cmdline", "rb").read() and open(f"/proc/{{p}}/stat").read().split(")")[-1].split()[0] != "Z":
                found.append(p)
        except OSError: pass
    return found
cfg = get_config("demo", **{tiny!r})
try: run_sweep(cfg, ["fusion=ccm"], [0], {out!r} + "/ray", backend="ray", log=lines.append)
except Exception as e: print("ERROR", type(e).__name__, e)
print("LEFT", left())
res = run_sweep(cfg, ["fusion=ccm"], [0], {out!r} + "/auto", backend="auto", log=lines.append)
print("LEFT", left())
print("AUTO", res.counts, res.records["fusion=ccm/seed_0"]["pid"] == os.getpid())
print("\\n".join(lines))
'''


def test_failed_ray_start_is_retried_cleaned_up_and_auto_falls_back(tmp_path):
    pytest.importorskip('ray')
    ray_tmp = tempfile.mkdtemp(prefix='r', dir='/tmp')                # short: Ray's socket paths must stay short
    tiny = {'synthetic': {'n_videos': 24, 'feature_dim': 16, 'n_classes': 4, 'seed': 0, 'duration': [10, 30]},
            'max_seqlen': 32, 'batch_size': 6, 'n_pairs': 2, 'max_iter': 4, 'eval_interval': 2, 'selection': 'last'}
    try: p = subprocess.run([sys.executable, '-c', FAILING_RAY.format(tiny=tiny, out=str(tmp_path))], capture_output=True,
                            text=True, env=env(RAY_TMPDIR=ray_tmp), timeout=600)
    finally: shutil.rmtree(ray_tmp, ignore_errors=True)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    out = p.stdout.splitlines()
    error = next(l for l in out if l.startswith('ERROR'))
    assert 'RayStartError' in error and 'could not start a local Ray' in error and '--backend local' in error, error
    assert [l for l in out if l.startswith('LEFT')] == ['LEFT []', 'LEFT []'], p.stdout   # no Ray process left behind
    assert sum('start 1 of 2 failed' in l for l in out) == 2 and sum('start 2 of 2 failed' in l for l in out) == 2, p.stdout
    assert "AUTO {'new': 1, 'skipped': 0, 'failed': 0} True" in out, p.stdout   # trained here, with the local backend
    assert any(l.startswith('note:') and 'backend local' in l for l in out), p.stdout
    assert not (tmp_path/'ray').exists()                          # the refused sweep left nothing


# 21. the README says what `ray stop` does, and how to stop only co2net's Ray

def test_readme_explains_stopping_ray():
    text = (ROOT/'README.md').read_text()
    assert 'every Ray process of your user on the machine' in text and 'co2net-ray-' in text
