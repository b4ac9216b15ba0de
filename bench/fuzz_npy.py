"""Fuzzing co2net's .npy reader (co2net.safe_files.load_npy) with mutated copies of the real W-TALC files.

Usage (from the repository root): python bench/fuzz_npy.py [--cases 10000] [--seed 0] [--workers 2] [--batch 200] [--reader FILE]

Every case is one mutated copy of a file of data_samples/ (the annotation files of THUMOS14, ActivityNet1.2 and the
synthetic SynThumos set, and the SynThumos object-array feature file), made from (seed, case number) alone, so that
any case can be made again. Mutations: random bytes, interesting values (0x00, 0xff, 0x7f, 0x80, 0x41) written over
bytes, spans deleted, duplicated or cut off, and opcode-aware changes of the pickle (an integer argument such as a
dtype's item size, flags or a memo index set to an extreme value; a short text argument such as a dtype name replaced
by another: 'O8', 'V8', 'f8', 'U0', ...; an opcode deleted, repeated or swapped with another).

The cases run in child processes (batches of `--batch`); each child reads the file with `load_npy`, then touches all
of what it returned (every element, every nested array copied and converted to lists), so that corrupt memory would
show. Outcomes:
  clean   the file loaded (a mutation may leave a valid file) and every value could be read
  error   a ValueError (UnsafeFileError included) on one line that names the file
  other   any other exception, or an error on several lines or without the file name (the reader's contract is broken)
  crash   the child process died (a signal, e.g. SIGSEGV, or an abort): the case is named with its seed
Prints the counts and every 'other' and 'crash' case; exits 1 if there is any.
"""
import argparse, json, os, pickletools, subprocess, sys, tempfile, time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted((ROOT/'data_samples').glob('*-Annotations/*.npy')) + [ROOT/'data_samples'/'SynThumos-I3D-JOINTFeatures.npy']
INTERESTING_INTS = [0, 1, 2, 3, 4, 8, 16, 63, 64, 127, 128, 255, 256, 4096, 65535, 2**31 - 1, 2**32 - 1, -1, -2, -2**31]
DTYPE_NAMES = [b'O8', b'V8', b'f8', b'U0', b'S0', b'U3', b'S5', b'b1', b'c16', b'M8', b'f16', b'i8', b'<', b'>', b'|', b'=',
               b'', b'a' * 300]
INT_OPS = {'BININT': ('<i', 4), 'BININT1': ('<B', 1), 'BININT2': ('<H', 2), 'BINPUT': ('<B', 1), 'BINGET': ('<B', 1),
           'LONG_BINPUT': ('<I', 4), 'LONG_BINGET': ('<I', 4), 'PROTO': ('<B', 1)}


def _pickle_start(blob: bytes) -> int:
    "Offset of the data after the .npy header (the pickle, for object arrays)."
    import io
    f = io.BytesIO(blob)
    version = np.lib.format.read_magic(f)
    (np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0)(f)
    return f.tell()


_OPS_CACHE = {}
def _opcodes(path: Path, blob: bytes, start: int) -> list:
    "(name, start, end) of every opcode of the original file's pickle ([] for plain arrays)."
    if path not in _OPS_CACHE:
        import io
        ops = []
        if blob[start:start + 1] == b'\x80':           # a pickle (object array)
            spans = [(op.name, pos) for op, arg, pos in pickletools.genops(io.BytesIO(blob[start:]))]
            ops = [(n, start + p, start + (spans[k + 1][1] if k + 1 < len(spans) else len(blob) - start))
                   for k, (n, p) in enumerate(spans)]
        _OPS_CACHE[path] = ops
    return _OPS_CACHE[path]


def mutate(path: Path, blob: bytes, rng: np.random.Generator) -> tuple[bytes, str]:
    "A mutated copy of `blob` (the bytes of `path`) and a short description of what was done."
    start = _pickle_start(blob)
    ops = _opcodes(path, blob, start)
    data, done = bytearray(blob), []
    for _ in range(int(rng.integers(1, 4))):
        lo = start if rng.random() < 0.95 else 0               # mostly the data, sometimes the header too
        if len(data) <= lo + 1: break
        kind = rng.choice(['bytes', 'interesting', 'delete', 'duplicate', 'truncate', 'op_int', 'op_text', 'op_span']
                          if ops else ['bytes', 'interesting', 'delete', 'duplicate', 'truncate'],
                          p=[.2, .15, .1, .1, .05, .2, .1, .1] if ops else [.3, .3, .15, .15, .1])
        if kind == 'bytes':
            for _ in range(int(rng.integers(1, 5))): data[int(rng.integers(lo, len(data)))] = int(rng.integers(256))
        elif kind == 'interesting':
            i = int(rng.integers(lo, len(data))); n = int(rng.integers(1, 9))
            data[i:i + n] = bytes([int(rng.choice([0, 0xff, 0x7f, 0x80, 0x41]))]) * n
        elif kind == 'delete':
            i = int(rng.integers(lo, len(data))); del data[i:i + int(rng.integers(1, 65))]
        elif kind == 'duplicate':
            i = int(rng.integers(lo, len(data))); j = min(len(data), i + int(rng.integers(1, 65))); data[i:i] = data[i:j]
        elif kind == 'truncate': del data[int(rng.integers(lo, len(data))):]
        else:                                                   # opcode-aware, on the original layout (if still in place)
            if len(data) != len(blob): kind = 'skipped'
            elif kind == 'op_int':
                cand = [o for o in ops if o[0] in INT_OPS]
                name, a, b = cand[int(rng.integers(len(cand)))]
                fmt, size = INT_OPS[name]
                v = int(rng.choice(INTERESTING_INTS)) if rng.random() < 0.7 else int(rng.integers(0, 2**31))
                lo_v, hi_v = (-2**31, 2**31 - 1) if fmt == '<i' else (0, 2**(8 * size) - 1)
                data[a + 1:b] = int(min(max(v, lo_v), hi_v)).to_bytes(size, 'little', signed=fmt == '<i')
            elif kind == 'op_text':
                cand = [o for o in ops if o[0] in ('SHORT_BINSTRING', 'SHORT_BINUNICODE', 'SHORT_BINBYTES')]
                if not cand: continue
                name, a, b = cand[int(rng.integers(len(cand)))]
                new = DTYPE_NAMES[int(rng.integers(len(DTYPE_NAMES)))][:255]
                data[a:b] = data[a:a + 1] + bytes([len(new)]) + new
            else:
                name, a, b = ops[int(rng.integers(len(ops)))]
                how = rng.choice(['drop', 'repeat', 'swap'])
                if how == 'drop': del data[a:b]
                elif how == 'repeat': data[a:a] = data[a:b]
                else:
                    _, c, d = ops[int(rng.integers(len(ops)))]
                    (a, b), (c, d) = sorted([(a, b), (c, d)])
                    if b <= c: data[a:d] = data[c:d] + data[b:c] + data[a:b]
                kind = f'op_{how}({name})'
        done.append(kind)
    return bytes(data), '+'.join(done)


_BYTES = {}
def case(seed: int, number: int, sources=SOURCES) -> tuple[Path, bytes, str]:
    "(source file, mutated bytes, description) of case `number` of `seed`: 85 % pickled (object) arrays, 15 % plain."
    for p in sources:
        if p not in _BYTES: _BYTES[p] = p.read_bytes()
    rng = np.random.default_rng([seed, number])
    pickled = [p for p in sources if _BYTES[p][:200].find(b"'|O'") >= 0]
    plain = [p for p in sources if p not in pickled]
    group = pickled if (rng.random() < 0.85 or not plain) else plain
    src = group[int(rng.integers(len(group)))]
    blob, what = mutate(src, _BYTES[src], rng)
    return src, blob, what


CHILD = r'''
import importlib.util, json, os, sys
sys.path.insert(0, sys.argv[1])
from fuzz_npy import case, touch, ROOT
seed, first, last, folder, log, reader = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6], sys.argv[7]
spec = importlib.util.spec_from_file_location('safe_files', reader)    # the reader's module alone: numpy, no torch
safe_files = importlib.util.module_from_spec(spec); spec.loader.exec_module(safe_files)
fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
def note(d): os.write(fd, (json.dumps(d) + '\n').encode())     # unbuffered: what was written survives a crash
for n in range(first, last):
    src, blob, what = case(seed, n)
    path = os.path.join(folder, f'case_{n}_{src.name}')
    with open(path, 'wb') as f: f.write(blob)
    note({'start': n, 'source': os.path.relpath(src, ROOT), 'mutation': what})
    try:
        touch(safe_files.load_npy(path, 'fuzzed file', encoding='bytes' if 'Features' in src.name else 'ASCII'))
        out = {'case': n, 'outcome': 'clean'}
    except ValueError as e:
        msg = str(e)
        out = {'case': n, 'outcome': 'error' if '\n' not in msg and path in msg else 'other', 'message': msg[:300]}
    except BaseException as e:
        out = {'case': n, 'outcome': 'other', 'message': f'{type(e).__name__}: {str(e)[:300]}'}
    os.remove(path)
    note(out)
'''


def touch(x, depth=0):
    "Read every value of what load_npy returned (copies and list conversions of every array), to make corrupt memory show."
    if isinstance(x, np.ndarray):
        if x.dtype == object:
            for v in x.ravel(order='K'): touch(v, depth + 1)
        else: x.copy().tolist(); repr(x[:3])
    elif isinstance(x, (list, tuple, set, frozenset)):
        for v in x: touch(v, depth + 1)
    elif isinstance(x, dict):
        for k, v in x.items(): touch(k, depth + 1); touch(v, depth + 1)
    else:
        repr(x)
        if isinstance(x, str): x.encode('utf-8', 'surrogatepass')


READER = ROOT/'co2net'/'safe_files.py'

def run_batch(seed, first, last, folder, log, reader=READER):
    "Cases [first, last) in one child; returns the outcome records, a crash recorded for the case in progress."
    bench = str(Path(__file__).resolve().parent)
    env = {**os.environ, 'PYTHONPATH': os.pathsep.join([str(ROOT), os.environ.get('PYTHONPATH', '')])}
    records, n = [], first
    while n < last:
        open(log, 'w').close()
        p = subprocess.run([sys.executable, '-c', CHILD, bench, str(seed), str(n), str(last), folder, log, str(reader)],
                           capture_output=True, text=True, env=env, cwd=ROOT)
        lines = [json.loads(l) for l in open(log) if l.strip()]
        done = [r for r in lines if 'outcome' in r]
        records += done
        started = [r for r in lines if 'start' in r]
        if p.returncode == 0: break
        if len(started) > len(done):                  # the child died inside this case
            bad = started[-1]
            records.append({'case': bad['start'], 'outcome': 'crash', 'returncode': p.returncode, 'seed': seed,
                            'source': bad['source'], 'mutation': bad['mutation'], 'stderr': p.stderr[-300:]})
            n = bad['start'] + 1
        else:                                         # it died between cases (should not happen): report and stop
            records.append({'case': n, 'outcome': 'crash', 'returncode': p.returncode, 'seed': seed, 'stderr': p.stderr[-300:]})
            break
    return records


def run(cases: int, seed: int = 0, workers: int = 1, batch: int = 200, first: int = 0, reader=READER) -> dict:
    "Run cases [first, first + cases) of `seed`; {'counts': {...}, 'bad': [records of 'other' and 'crash']}."
    from concurrent.futures import ThreadPoolExecutor
    with tempfile.TemporaryDirectory(prefix='co2net-fuzz-') as tmp:
        chunks = [(seed, a, min(a + batch, first + cases), tmp, os.path.join(tmp, f'log_{a}.jsonl'), reader)
                  for a in range(first, first + cases, batch)]
        with ThreadPoolExecutor(workers) as ex: results = [r for rs in ex.map(lambda c: run_batch(*c), chunks) for r in rs]
    counts = {k: sum(r['outcome'] == k for r in results) for k in ('clean', 'error', 'other', 'crash')}
    return {'counts': counts, 'bad': [r for r in results if r['outcome'] in ('other', 'crash')], 'cases': len(results)}


if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--cases', type=int, default=10000)
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--workers', type=int, default=2)
    ap.add_argument('--batch', type=int, default=200)
    ap.add_argument('--reader', default=str(READER), help='the safe_files.py to test (e.g. an older version, for comparison)')
    args = ap.parse_args()
    t0 = time.time()
    r = run(args.cases, args.seed, args.workers, args.batch, reader=args.reader)
    c = r['counts']
    print(f"reader {args.reader}: {r['cases']} mutated files (seed {args.seed}) from {len(SOURCES)} real files in {time.time() - t0:.0f} s: "
          f"{c['clean']} clean loads, {c['error']} one-line errors naming the file, {c['other']} other outcomes, "
          f"{c['crash']} crashes")
    for b in r['bad']: print(json.dumps(b))
    sys.exit(1 if r['bad'] else 0)
