"""Reading pace of every chapter, measured on the committed notebooks (their saved outputs; nothing is run).

Usage: python tests/reading_pace.py [notebook ...]      (default: every notebook in nbs/)

The main path of a chapter is everything before its first heading that says "Under the hood"; on it, the
code cells that count leave out '#| hide' cells and the '#| default_exp' cell. Per chapter:
  shown      share of those code cells whose saved outputs show something (printed text, a value, a figure)
  median     median number of non-blank code lines per cell ('#|' directive lines not counted)
  largest    the largest cell, in the same lines
  lines      all main-path code lines
  pic first  a figure among the outputs of the first quarter of the main path's code cells (at least the
             first 6 cells), i.e. the reader sees a picture before the machinery
and one column per target of the tutorial: shown >= 50 %, median <= 4, largest <= 30, lines <= 300, and a
picture first in chapters 00-08 and 11 ('-' where a target does not apply). Appendix chapters (nbs/A*) and the
successor chapter (nbs/13*) are listed and marked as such; the front page (index) too.

It reports and asserts nothing: the exit status is 0 whatever the numbers, so style never fails CI.
"""
import json, re, statistics, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
UNDER_THE_HOOD = re.compile(r'^\s{0,3}#{1,6}\s.*under the hood', re.I | re.M)
SKIPPED_CELL = re.compile(r'^\s*#\|\s*(hide|default_exp)\b', re.M)
SHOWING = {'stream', 'execute_result', 'display_data'}
PICTURE_FIRST = {f'{i:02d}' for i in range(9)} | {'11'}      # chapters whose main path should open with a picture
TARGETS = (('>=50%', lambda s: s['shown'] >= 0.5), ('med<=4', lambda s: s['median'] <= 4),
           ('max<=30', lambda s: s['largest'] <= 30), ('<=300', lambda s: s['lines'] <= 300))

def _text(src) -> str: return ''.join(src) if isinstance(src, list) else (src or '')

def code_lines(source: str) -> int:
    "Non-blank lines of a code cell, not counting nbdev directives ('#| ...')."
    return sum(1 for l in source.splitlines() if l.strip() and not l.lstrip().startswith('#|'))

def main_path(cells: list) -> list:
    "The cells before the first 'Under the hood' heading."
    out = []
    for c in cells:
        if c.get('cell_type') == 'markdown' and UNDER_THE_HOOD.search(_text(c.get('source'))): break
        out.append(c)
    return out

def measure(path: Path) -> dict | None:
    "The reading-pace numbers of one notebook's main path (None: no code cell on it)."
    cells = json.loads(path.read_text(encoding='utf-8')).get('cells', [])
    code = [c for c in main_path(cells) if c.get('cell_type') == 'code' and not SKIPPED_CELL.search(_text(c.get('source')))]
    if not code: return None
    outs = [c.get('outputs') or [] for c in code]
    lines = [code_lines(_text(c.get('source'))) for c in code]
    shows = [any(o.get('output_type') in SHOWING for o in oo) for oo in outs]
    pics = [any(k.startswith('image/') for o in oo for k in (o.get('data') or {})) for oo in outs]
    first = max(6, len(code) // 4)
    return {'cells': len(code), 'shown': sum(shows) / len(code), 'median': statistics.median(lines), 'largest': max(lines),
            'lines': sum(lines), 'pic_first': any(pics[:first])}

def kind(name: str) -> str:
    if name.startswith('A'): return 'appendix'
    if name.startswith('13'): return 'successor'
    if name == 'index': return 'front page'
    return 'chapter'

def default_notebooks() -> list[Path]:
    nbs = ROOT/'nbs'
    main = sorted(nbs.glob('[0-9][0-9]*.ipynb'))
    return [p for p in [nbs/'index.ipynb'] if p.exists()] + main + sorted(nbs.glob('A*.ipynb'))

def row(path: Path) -> tuple[str, dict | None, str]:
    name = path.stem
    try: s = measure(path)
    except (OSError, ValueError) as e: return name, None, f'could not be read ({type(e).__name__}: {e})'
    return name, s, '' if s else 'no code cell on the main path'

def main(argv=None):
    paths = [Path(p) for p in (sys.argv[1:] if argv is None else argv)] or default_notebooks()
    head = (f"{'notebook':<22}{'kind':<12}{'shown':>6}{'median':>7}{'largest':>8}{'lines':>6}  {'pic first':<10}"
            + ''.join(f'{t:>8}' for t, _ in TARGETS) + f"{'pic1st':>8}")
    print('Reading pace of the main paths (cells before "Under the hood"), from the committed outputs')
    print(head); print('-' * len(head))
    n_all = n_ok = 0
    for path in paths:
        name, s, note = row(path)
        k = kind(name)
        if s is None:
            print(f'{name:<22}{k:<12}{note}'); continue
        met = [ok(s) for _, ok in TARGETS]
        pic_target = name[:2] in PICTURE_FIRST and k == 'chapter'
        cells = ''.join(f"{'yes' if m else 'NO':>8}" for m in met) + f"{('yes' if s['pic_first'] else 'NO') if pic_target else '-':>8}"
        print(f"{name:<22}{k:<12}{s['shown']:>6.0%}{s['median']:>7g}{s['largest']:>8}{s['lines']:>6}  "
              f"{'yes' if s['pic_first'] else 'no':<10}" + cells)
        if k not in ('front page', 'appendix'):            # appendices are engineering references, read on demand
            n_all += 1
            n_ok += all(met) and (s['pic_first'] or not pic_target)
    print('-' * len(head))
    print(f'{n_ok} of {n_all} chapters meet every target (targets: shown >= 50 %, median <= 4 lines, no cell over 30, '
          f'at most 300 main-path lines, a picture first in 00-08 and 11; the appendices A0-A4 are listed, not counted). '
          f'This script only reports.')
    return 0

if __name__ == '__main__':
    main()
    sys.exit(0)
