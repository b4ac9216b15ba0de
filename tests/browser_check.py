"""The proposal explorer as a reader sees it: JupyterLab in a real Chromium, driven by Playwright.

Usage: python tests/browser_check.py [--out tests/_out/browser] [--timeout 600]

Starts JupyterLab on 127.0.0.1 with a random token on a copy of the notebooks (autosave off, so nothing
in nbs/ changes), opens `08_visualize`, runs all cells from the Run menu, and checks four things:
  1. widgets render: no "Error displaying widget" anywhere on the page, and the explorer is there;
  2. the explorer's plot is an <img> with a decoded picture in it;
  3. moving the threshold slider (keyboard, as a reader would) changes the proposals table;
  4. no notification toast covers the page (JupyterLab's "official Jupyter news?" question is turned off
     in the throw-away settings: `fetchNews: "false"` of @jupyterlab/apputils-extension:notification).
Screenshots go to the output folder. JupyterLab is stopped afterwards. Prints one line per check and
`browser: N passed, M failed`; exits 1 on a failure. Needs Debian's `chromium` (`apt-get install chromium`):
Playwright's own browser download is not used.
"""
import argparse, json, os, re, secrets, shutil, signal, socket, subprocess, sys, tempfile, time, urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = '08_visualize.ipynb'
EXPLORER = '.co2net-explorer'
CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
                 '--disable-component-update', '--disable-sync', '--disable-quic']

def find_chromium() -> str:
    for name in ('chromium', 'chromium-browser'):
        if shutil.which(name): return shutil.which(name)
    raise SystemExit("browser check: no system Chromium found; install Debian's package: apt-get install -y chromium")

def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0)); return s.getsockname()[1]

def make_workspace(tmp: Path) -> Path:
    "A copy of nbs/ beside links to the folders the notebooks read, and JupyterLab settings with autosave off."
    shutil.copytree(ROOT/'nbs', tmp/'nbs', ignore=shutil.ignore_patterns('.ipynb_checkpoints', '_*'))
    for d in ('data_samples', 'bench', 'co2net'): os.symlink(ROOT/d, tmp/d)
    docmanager = tmp/'settings'/'@jupyterlab'/'docmanager-extension'
    docmanager.mkdir(parents=True)
    (docmanager/'plugin.jupyterlab-settings').write_text(json.dumps({'autosave': False}))
    notices = tmp/'settings'/'@jupyterlab'/'apputils-extension'
    notices.mkdir(parents=True)      # no "get notified about Jupyter news?" toast over the figures, no web request
    (notices/'notification.jupyterlab-settings').write_text(json.dumps({'fetchNews': 'false', 'checkForUpdates': False}))
    notebook = tmp/'settings'/'@jupyterlab'/'notebook-extension'
    notebook.mkdir(parents=True)     # every cell in the page, so that every prompt can be read
    (notebook/'tracker.jupyterlab-settings').write_text(json.dumps({'windowingMode': 'none'}))
    return tmp

def start_lab(tmp: Path, port: int, token: str, log):
    cmd = [sys.executable, '-m', 'jupyterlab', '--no-browser', '--allow-root', '--ip=127.0.0.1', f'--port={port}',
           f'--IdentityProvider.token={token}', f'--ServerApp.root_dir={tmp}',
           f'--LabApp.user_settings_dir={tmp/"settings"}', f'--LabApp.workspaces_dir={tmp/"workspaces"}']
    env = {k: v for k, v in os.environ.items() if k != 'IN_TEST'}
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    url = f'http://127.0.0.1:{port}/api/status?token={token}'
    for _ in range(120):
        if proc.poll() is not None: raise RuntimeError(f'JupyterLab exited with status {proc.returncode}')
        try:
            with urllib.request.urlopen(url, timeout=2): return proc
        except OSError: time.sleep(0.5)
    raise RuntimeError('JupyterLab did not answer within 60 s')

def stop_lab(proc):
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try: proc.wait(20)
        except subprocess.TimeoutExpired: os.killpg(proc.pid, signal.SIGKILL); proc.wait()

def dismiss_dialogs(page):
    "Accept JupyterLab's kernel-selection dialog (the notebook's python3 kernel)."
    accept = page.locator('.jp-Dialog .jp-mod-accept:visible')
    if accept.count():
        try: accept.first.click(timeout=5000)
        except Exception: pass          # closed meanwhile; the next round looks again
        page.wait_for_timeout(500)

def _prompts(page):
    return [p.strip() for p in page.locator('.jp-CodeCell .jp-InputArea-prompt').all_inner_texts()]

def _kernel_idle(page) -> bool:
    return 'Idle' in page.locator('#jp-main-statusbar').inner_text()

def run_all_cells(page, timeout: float):
    "Run -> Run All Cells from the menu bar, then wait until every code cell has run (no queued or running cell)."
    page.locator('.jp-Notebook').first.wait_for(timeout=60_000)
    for attempt in range(3):      # a slow kernel start can put a kernel dialog over the first click
        for _ in range(90):
            dismiss_dialogs(page)
            if _kernel_idle(page): break
            page.wait_for_timeout(1000)
        page.locator('.lm-MenuBar-itemLabel', has_text='Run').first.click()
        page.locator('.lm-Menu-itemLabel', has_text='Run All Cells').first.click()
        for _ in range(20):
            page.wait_for_timeout(1000)
            if any(p != '[ ]:' and p for p in _prompts(page)): break
        else: continue
        break
    deadline = time.time() + timeout
    while time.time() < deadline:
        dismiss_dialogs(page)
        prompts = _prompts(page)
        if prompts and all(re.fullmatch(r'\[\d+\]:', p) for p in prompts): return
        if prompts and not any('*' in p for p in prompts) and _kernel_idle(page):   # Run All stops at an error
            page.wait_for_timeout(2000)
            if not any('*' in p for p in _prompts(page)):
                err = page.locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')
                texts = [t for t in err.all_inner_texts() if 'Error' in t or 'Traceback' in t]
                raise RuntimeError('a cell failed: ' + (texts[-1][-800:] if texts else 'run stopped before the last cell'))
        page.wait_for_timeout(1000)
    raise TimeoutError(f'the notebook did not finish within {timeout:.0f} s')

def check(name, ok, detail, results):
    results.append((name, bool(ok)))
    print(f'{"ok  " if ok else "FAIL"} browser: {name}' + (f' ({detail})' if detail else ''), flush=True)

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--out', default=str(ROOT/'tests'/'_out'/'browser'), help='folder for screenshots and the JupyterLab log')
    ap.add_argument('--timeout', type=float, default=600, help='seconds the notebook may take to run')
    args = ap.parse_args()
    out = Path(args.out); out.mkdir(parents=True, exist_ok=True)
    chromium = find_chromium()
    from playwright.sync_api import sync_playwright
    results = []
    token, port = secrets.token_hex(16), free_port()
    with tempfile.TemporaryDirectory() as tmp, open(out/'jupyterlab.log', 'w') as log:
        lab = start_lab(make_workspace(Path(tmp)), port, token, log)
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={'width': 1400, 'height': 1000})
                page.goto(f'http://127.0.0.1:{port}/lab/tree/nbs/{NOTEBOOK}?token={token}', timeout=60_000)
                try: run_all_cells(page, args.timeout)
                except Exception as e:
                    page.screenshot(path=str(out/'notebook_failed.png'))
                    check('notebook runs in JupyterLab', False, f'{type(e).__name__}: {e}', results)
                    raise
                explorer = page.locator(EXPLORER).last
                explorer.scroll_into_view_if_needed()
                page.wait_for_timeout(1500)
                page.screenshot(path=str(out/'notebook.png'))
                toasts = [t.strip().splitlines()[0][:80] for t in page.locator('.Toastify__toast:visible').all_inner_texts() if t.strip()]
                check('no notification covers the page', not toasts, '; '.join(toasts) or 'none', results)
                errors = page.get_by_text('Error displaying widget').count()
                check('widgets render', errors == 0 and page.locator(EXPLORER).count() > 0,
                      f'{page.locator(EXPLORER).count()} explorer(s), {errors} "Error displaying widget"', results)
                img = explorer.locator('img').first
                natural = img.evaluate('e => e.naturalWidth') if img.count() else 0
                check("explorer's plot is an <img>", natural > 0, f'naturalWidth {natural}', results)
                explorer.screenshot(path=str(out/'explorer_before.png'))
                table = explorer.locator('.co2net-explorer-table')
                before = table.inner_text() if table.count() else None
                handle = explorer.locator('.co2net-explorer-threshold [role=slider]').first
                handle.focus()
                for _ in range(10): page.keyboard.press('ArrowRight'); page.wait_for_timeout(100)
                page.wait_for_timeout(2500)
                after = table.inner_text() if table.count() else None
                explorer.screenshot(path=str(out/'explorer_after.png'))
                check('moving the threshold slider changes the proposals table',
                      before is not None and after is not None and before != after,
                      'table not found' if before is None else ('unchanged' if before == after else 'changed'), results)
                browser.close()
        except Exception as e:
            if not results or all(ok for _, ok in results):
                check('browser session', False, f'{type(e).__name__}: {e}', results)
        finally:
            stop_lab(lab)
    n_ok = sum(ok for _, ok in results)
    print(f'browser: {n_ok} passed, {len(results) - n_ok} failed (screenshots in {out})', flush=True)
    sys.exit(0 if results and n_ok == len(results) else 1)

if __name__ == '__main__': main()
