"""Run every co2net test: each notebook under nbs/ (through `nbdev-test`), then pytest over tests/.

Usage: python tests/run_all.py [--flags "slow cuda"] [--workers 2] [notebook ...]

Prints one line per notebook, pytest's own summary, and finally a closing line
`N passed, M failed` counting notebooks and pytest tests together. Exits non-zero when anything
failed or when no notebook ran at all.
"""
import argparse, os, subprocess, sys, time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

def find_notebooks(paths):
    if paths: return [Path(p).resolve() for p in paths]
    return sorted(p for p in (ROOT/'nbs').rglob('*.ipynb')
                  if not any(part.startswith(('_', '.')) for part in p.relative_to(ROOT/'nbs').parts))

def run_notebook(nb, flags):
    cmd = ['nbdev-test', str(nb), '--n-workers', '0']
    if flags: cmd += ['--flags', flags]
    start = time.time()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    return nb, proc.returncode == 0, time.time() - start, proc.stdout + proc.stderr

def run_pytest():
    "Run pytest over tests/ and return (passed, failed); (0, 0) when tests/ holds no test file."
    if not any((ROOT/'tests').glob('test_*.py')): return 0, 0
    import pytest
    class Counter:
        passed = failed = 0
        def pytest_runtest_logreport(self, report):
            if report.when == 'call' and report.passed: self.passed += 1
            elif report.failed: self.failed += 1
    counter = Counter()
    code = pytest.main([str(ROOT/'tests'), '-q', '-p', 'no:cacheprovider'], plugins=[counter])
    if code not in (0, 1, 5) and counter.failed == 0: counter.failed = 1  # internal/usage error counts as a failure
    return counter.passed, counter.failed

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('notebooks', nargs='*', help='notebooks to run (default: all under nbs/)')
    ap.add_argument('--flags', default='', help='test flags to enable, e.g. "slow" or "cuda"')
    ap.add_argument('--workers', type=int, default=2, help='notebooks run at once')
    ap.add_argument('--no-pytest', action='store_true', help='run the notebooks only')
    args = ap.parse_args()
    nbs = find_notebooks(args.notebooks)
    nb_pass = nb_fail = 0
    with ThreadPoolExecutor(args.workers) as pool:
        for nb, ok, secs, out in pool.map(lambda n: run_notebook(n, args.flags), nbs):
            print(f'{"ok  " if ok else "FAIL"} {nb.relative_to(ROOT)} ({secs:.1f}s)', flush=True)
            if ok: nb_pass += 1
            else:
                nb_fail += 1
                print(out[-6000:], flush=True)
    print(f'notebooks: {nb_pass} passed, {nb_fail} failed', flush=True)
    py_pass, py_fail = (0, 0) if args.no_pytest else run_pytest()
    if not args.no_pytest: print(f'pytest: {py_pass} passed, {py_fail} failed', flush=True)
    if nb_pass + nb_fail == 0:
        print('no notebook was run: this counts as a failure', flush=True)
        nb_fail = 1
    print(f'{nb_pass + py_pass} passed, {nb_fail + py_fail} failed', flush=True)
    sys.exit(1 if nb_fail + py_fail else 0)

if __name__ == '__main__': main()
