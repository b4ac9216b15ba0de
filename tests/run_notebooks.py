"""Run notebooks the way a reader does: top to bottom in a plain Jupyter kernel, then check what they show.

Usage: python tests/run_notebooks.py [--save] [--workers 2] [--timeout 900] [notebook ...]

Each notebook runs in a fresh `python3` kernel (nbclient) with `nbs/` as working directory and no nbdev
flags: `IN_TEST` is removed from the kernel's environment, so `#| slow` and `#| cuda` cells run exactly as
they do in JupyterLab. A notebook passes when none of its outputs
  - is an error,
  - is a figure's text repr (`<Figure size ...>`) without an image next to it,
  - contains terminal control codes (ANSI escapes, carriage-return progress bars).
`--save` writes the executed outputs back into the notebook (run `nbdev-clean` afterwards); interactive
widget outputs are saved as a short text, since their state is not kept in the file.
Prints one line per notebook with its wall time, and `kernel: N passed, M failed`; exits 1 on a failure.
"""
import argparse, os, re, sys, tempfile, time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NBS = ROOT/'nbs'
FIGURE_TEXT = re.compile(r'<(matplotlib\.figure\.)?Figure size [\d.]+x[\d.]+ with \d+ Axes>')
CONTROL = re.compile(r'\x1b\[|\[2K|\r(?!\n)')
WIDGET = 'application/vnd.jupyter.widget-view+json'
WIDGET_NOTE = '[interactive widget: run this cell in JupyterLab to use it]'

def find_notebooks(paths=()):
    "The notebooks to run: the given paths, else every chapter under nbs/ (not _private or hidden folders)."
    if paths: return [Path(p).resolve() for p in paths]
    return sorted(p for p in NBS.rglob('*.ipynb')
                  if not any(part.startswith(('_', '.')) for part in p.relative_to(NBS).parts))

def _texts(out):
    "Every text a (non-error) output shows: stream text and text/* data."
    if out.get('output_type') == 'stream': yield out.get('text', '')
    for mime, val in (out.get('data') or {}).items():
        if mime.startswith('text/'): yield val if isinstance(val, str) else ''.join(val)

def output_problems(nb) -> list[str]:
    "What a reader would see as wrong in the outputs of an executed notebook (empty list: nothing)."
    problems = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != 'code': continue
        where = f'cell {i} ({cell.source.strip().splitlines()[0][:60] if cell.source.strip() else "empty"})'
        for out in cell.get('outputs', []):
            kind = out.get('output_type')
            if kind == 'error':
                problems.append(f'{where}: {out.get("ename")}: {out.get("evalue")}')
                continue
            data = out.get('data') or {}
            plain = data.get('text/plain', '')
            plain = plain if isinstance(plain, str) else ''.join(plain)
            if FIGURE_TEXT.search(plain) and not any(m.startswith('image/') for m in data):
                problems.append(f'{where}: a figure shown as text {FIGURE_TEXT.search(plain).group(0)!r}, no image')
            if kind == 'stream' and FIGURE_TEXT.search(out.get('text', '')):
                problems.append(f'{where}: a figure printed as text {FIGURE_TEXT.search(out["text"]).group(0)!r}')
            for text in _texts(out):
                if CONTROL.search(text):
                    problems.append(f'{where}: terminal control codes in the output ({CONTROL.search(text).group(0)!r})')
                    break
    return problems

def _saveable(nb):
    "Widget outputs keep no state in the file: save them as a short note instead of a broken widget view."
    nb.metadata.pop('widgets', None)      # the widgets' state (can be 100s of kB) is not worth committing
    for cell in nb.cells:
        for out in cell.get('outputs', []):
            data = out.get('data') or {}
            if WIDGET in data: out['data'] = {'text/plain': WIDGET_NOTE}
    return nb

def run_one(path, save=False, timeout=900):
    "Execute one notebook in a fresh kernel; returns (path, ok, seconds, report)."
    import nbformat
    from nbclient import NotebookClient
    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    env = {k: v for k, v in os.environ.items() if k != 'IN_TEST'}   # no nbdev flags: a reader's plain kernel
    start = time.time()
    with tempfile.TemporaryFile('w+') as kernel_log:   # the kernel process's own stderr: shown only on a crash
        try:
            client = NotebookClient(nb, timeout=timeout, kernel_name='python3', allow_errors=True,
                                    resources={'metadata': {'path': str(path.parent)}})
            client.execute(stderr=kernel_log, env=env)
        except Exception as e:   # a dead kernel or a cell over the timeout
            kernel_log.seek(0)
            return path, False, time.time() - start, f'{type(e).__name__}: {e}\n{kernel_log.read()[-3000:]}'
    secs = time.time() - start
    problems = output_problems(nb)
    if save and not problems: nbformat.write(_saveable(nb), path)
    return path, not problems, secs, '\n'.join(problems)

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('notebooks', nargs='*', help='notebooks to run (default: all under nbs/)')
    ap.add_argument('--save', action='store_true', help='write the outputs back into each notebook that passed')
    ap.add_argument('--workers', type=int, default=2, help='notebooks run at once')
    ap.add_argument('--timeout', type=int, default=900, help='seconds one cell may run before the run is stopped')
    args = ap.parse_args()
    nbs = find_notebooks(args.notebooks)
    n_pass = n_fail = 0
    start = time.time()
    with ProcessPoolExecutor(max(1, args.workers)) as pool:
        futs = [pool.submit(run_one, nb, args.save, args.timeout) for nb in nbs]
        for fut in futs:
            nb, ok, secs, report = fut.result()
            print(f'{"ok  " if ok else "FAIL"} kernel {nb.relative_to(ROOT)} ({secs:.1f}s)', flush=True)
            if ok: n_pass += 1
            else:
                n_fail += 1
                print('     ' + report.replace('\n', '\n     ')[-6000:], flush=True)
    print(f'kernel: {n_pass} passed, {n_fail} failed ({time.time() - start:.0f}s)', flush=True)
    sys.exit(1 if n_fail or not nbs else 0)

if __name__ == '__main__': main()
