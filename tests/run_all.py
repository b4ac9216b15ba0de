"""Run every co2net test and print one closing line `N passed, M failed`.

Usage: python tests/run_all.py [--flags "slow cuda"] [--workers 2] [--no-kernel] [--no-browser] [--no-pytest] [notebook ...]

Four kinds of checks, each counted:
  1. nbdev-test: the test cells of each notebook under nbs/ (flagged cells only with --flags);
  2. kernel: each notebook top to bottom in a plain Jupyter kernel, no flags, with its outputs checked
     (no error, every figure an image, no terminal control codes; see tests/run_notebooks.py);
  3. pytest over tests/;
  4. browser: the proposal explorer of 08_visualize in JupyterLab in Chromium (tests/browser_check.py).
Exits non-zero when anything failed or when no notebook ran at all.
"""
import argparse, importlib.util, os, re, shutil, subprocess, sys, time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT/'tests'))
from run_notebooks import find_notebooks, run_one as run_in_kernel   # a fresh kernel (its own process) per notebook

def run_nbdev_test(nb, flags):
    cmd = ['nbdev-test', str(nb), '--n-workers', '0']
    if flags: cmd += ['--flags', flags]
    start = time.time()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    return nb, proc.returncode == 0, time.time() - start, proc.stdout + proc.stderr

def run_stage(name, func, items, workers):
    "Run `func` over `items` (`workers` at a time); print a line per item; return (passed, failed)."
    n_pass = n_fail = 0
    start = time.time()
    with ThreadPoolExecutor(workers) as pool:
        for nb, ok, secs, out in pool.map(func, items):
            print(f'{"ok  " if ok else "FAIL"} {name} {nb.relative_to(ROOT)} ({secs:.1f}s)', flush=True)
            if ok: n_pass += 1
            else:
                n_fail += 1
                print('     ' + out[-6000:].replace('\n', '\n     '), flush=True)
    print(f'{name}: {n_pass} passed, {n_fail} failed ({time.time() - start:.0f}s)', flush=True)
    return n_pass, n_fail

def run_pytest(workers: int = 1):
    "Run pytest over tests/ (`workers` processes) and return (passed, failed); (0, 0) when tests/ holds no test file."
    if not any((ROOT/'tests').glob('test_*.py')): return 0, 0
    import pytest
    class Counter:
        passed = failed = 0
        def pytest_runtest_logreport(self, report):
            if report.when == 'call' and report.passed: self.passed += 1
            elif report.failed: self.failed += 1
    counter = Counter()
    args = [str(ROOT/'tests'), '-q', '-p', 'no:cacheprovider']
    if workers > 1 and importlib.util.find_spec('xdist'):       # pytest-xdist (dev extra): a file at a time per process
        args += ['-n', str(workers), '--dist', 'loadgroup']         # groups: tests/conftest.py
    code = pytest.main(args, plugins=[counter])
    if code not in (0, 1, 5) and counter.failed == 0: counter.failed = 1  # internal/usage error counts as a failure
    print(f'pytest: {counter.passed} passed, {counter.failed} failed', flush=True)
    return counter.passed, counter.failed

def ensure_chromium() -> bool:
    "Debian's chromium for the browser check: installed with apt-get when missing and allowed (root)."
    if shutil.which('chromium') or shutil.which('chromium-browser'): return True
    if os.geteuid() == 0 and shutil.which('apt-get'):
        print('installing Debian chromium for the browser check (apt-get install -y chromium)', flush=True)
        for cmd in (['apt-get', 'install', '-y', '-q', 'chromium'], ['apt-get', 'update', '-q'],
                    ['apt-get', 'install', '-y', '-q', 'chromium']):
            subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           env={**os.environ, 'DEBIAN_FRONTEND': 'noninteractive'})
            if shutil.which('chromium'): return True
    print("FAIL browser: no Chromium; install Debian's package (as root: apt-get install -y chromium)", flush=True)
    return False

def run_browser_check():
    "Run tests/browser_check.py; each of its check lines counts."
    if not ensure_chromium(): return 0, 1
    proc = subprocess.run([sys.executable, str(ROOT/'tests'/'browser_check.py')], cwd=ROOT, capture_output=True, text=True)
    print(proc.stdout, end='', flush=True)
    passed = len(re.findall(r'^ok +browser:', proc.stdout, re.M))
    failed = len(re.findall(r'^FAIL browser:', proc.stdout, re.M))
    if proc.returncode and not failed:
        print(proc.stderr[-3000:], flush=True); failed = 1
    return passed, failed

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('notebooks', nargs='*', help='notebooks to run (default: all under nbs/)')
    ap.add_argument('--flags', default='', help='nbdev-test flags to enable, e.g. "slow" or "cuda"')
    ap.add_argument('--workers', type=int, default=2, help='notebooks (and pytest processes, with pytest-xdist) run at once')
    ap.add_argument('--no-kernel', action='store_true', help='skip the plain-kernel runs')
    ap.add_argument('--no-browser', action='store_true', help='skip the JupyterLab/Chromium check')
    ap.add_argument('--no-pytest', action='store_true', help='skip pytest over tests/')
    args = ap.parse_args()
    nbs = find_notebooks(args.notebooks)
    counts = [run_stage('nbdev-test', lambda nb: run_nbdev_test(nb, args.flags), nbs, args.workers)]
    if not nbs:
        print('no notebook was run: this counts as a failure', flush=True)
        counts.append((0, 1))
    if not args.no_kernel: counts.append(run_stage('kernel', run_in_kernel, nbs, args.workers))
    if not args.no_pytest: counts.append(run_pytest(args.workers))
    if not args.no_browser: counts.append(run_browser_check())
    passed, failed = sum(c[0] for c in counts), sum(c[1] for c in counts)
    print(f'{passed} passed, {failed} failed', flush=True)
    sys.exit(1 if failed else 0)

if __name__ == '__main__': main()
