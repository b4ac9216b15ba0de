"""Memory safety of the .npy reader (issue 19, item 1): a pickle built only from allowed numpy names must not reach
numpy's own unpickling code (`_reconstruct` + `ndarray.__setstate__`, `dtype.__setstate__`), which trusts its state.

Each crafted file is read in a subprocess, so that a reader that corrupts memory shows as a failing test (the child
dies of SIGSEGV or SIGABRT) instead of killing pytest. The fuzz test runs a few hundred mutated copies of the real
files through `bench/fuzz_npy.py` (the benchmark runs 10,000 and more)."""
import json, os, pickle, shutil, subprocess, sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
THUMOS = ROOT/'data_samples'/'Thumos14reduced-Annotations'
sys.path.insert(0, str(ROOT/'bench'))
import fuzz_npy  # noqa: E402

try: from numpy._core.multiarray import _reconstruct
except ImportError: from numpy.core.multiarray import _reconstruct


class FakeDtype:
    "Pickles as numpy.dtype(spec) followed by BUILD with an arbitrary state, as a hostile file can."
    def __init__(self, spec, state): self.spec, self.state = spec, state
    def __reduce__(self): return (np.dtype, (self.spec, False, True), self.state)


class FakeArray:
    "Pickles as numpy's _reconstruct(ndarray, (0,), b'b') followed by BUILD with an arbitrary (shape, dtype, data)."
    def __init__(self, dtype, shape, data): self.dtype, self.shape, self.data = dtype, shape, data
    def __reduce__(self): return (_reconstruct, (np.ndarray, (0,), b'b'), (1, self.shape, self.dtype, False, self.data))


OBJ = np.dtype(object)
HIDDEN_OBJECT = FakeDtype('V8', (3, '|', None, ('a',), {'a': (OBJ, 0)}, 8, 1, 0))      # an object field, flags 0
FAR_OBJECT = FakeDtype('V8', (3, '|', None, ('a',), {'a': (OBJ, 4096)}, 8, 1, 63))     # an object field past the item
self_list = []; self_list.append(self_list)
deep = 1.0
for _ in range(100): deep = [deep]
nested = np.empty(2, object); nested[:] = [None, 1]

CRAFTED = {  # name: (the element put into segments.npy, what the one-line error must say)
    'hidden object field, flags 0, 0x41 bytes (issue)': (FakeArray(HIDDEN_OBJECT, (4,), b'\x41' * 32), "numpy.dtype('V8')"),
    'object field at offset 4096 of an 8-byte item (issue)': (FakeArray(FAR_OBJECT, (4,), [None] * 4), "numpy.dtype('V8')"),
    'fields behind the name f8': (FakeArray(FakeDtype('f8', HIDDEN_OBJECT.state), (4,), b'\x41' * 32), 'with fields'),
    'item size 4096 for f8': (FakeArray(FakeDtype('f8', (3, '<', None, None, None, 4096, 1, 0)), (1,), b'\0' * 8), 'item size 4096'),
    'object flags on f8': (FakeArray(FakeDtype('f8', (3, '<', None, None, None, -1, -1, 63)), (1,), b'\0' * 8), 'with flags 63'),
    'string item size past the data': (FakeArray(FakeDtype('S0', (3, '|', None, None, None, 1 << 20, 1, 0)), (2,), b'x'),
                                       'needs 2097152 bytes'),
    'more elements than bytes': (FakeArray(np.dtype('f8'), (1000,), b'\0' * 8), 'needs 8000 bytes, the pickle holds 8'),
    'unicode beyond U+10FFFF': (FakeArray(np.dtype('<U1'), (2,), b'\x41' * 8), 'beyond Unicode'),
    'object array inside the object array': (nested, 'object array inside the data'),
    'list that contains itself': (self_list, 'refers back to a list'),
    'lists nested 100 deep': (deep, 'nested more than 64 levels'),
}


def crafted_segments(folder: Path, element) -> Path:
    "A copy of the real THUMOS14 annotation folder whose segments.npy holds `element` as the segments of video 5."
    d = folder/'Thumos14reduced-Annotations'
    shutil.copytree(THUMOS, d)
    for p in [d, *d.iterdir()]: p.chmod(0o755 if p.is_dir() else 0o644)
    segs = np.load(THUMOS/'segments.npy', allow_pickle=True).copy()   # the real, trusted file
    segs[5] = element
    np.save(d/'segments.npy', segs, allow_pickle=True)
    return d


READ = r'''
import importlib.util, sys
spec = importlib.util.spec_from_file_location('safe_files', sys.argv[1])
m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)
try: a = m.load_npy(sys.argv[2], 'annotation file')
except ValueError as e: print('ERROR', e); sys.exit(3)
print('LOADED', repr(a[5])[:200])
'''


@pytest.mark.parametrize('name', list(CRAFTED))
def test_crafted_file_is_one_line_error_not_a_crash(tmp_path, name):
    element, expected = CRAFTED[name]
    d = crafted_segments(tmp_path, element)
    p = subprocess.run([sys.executable, '-c', READ, str(ROOT/'co2net'/'safe_files.py'), str(d/'segments.npy')],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 3, f'the reader died or loaded the file (rc {p.returncode}): {p.stdout[-300:]} {p.stderr[-500:]}'
    line = p.stdout.strip()
    assert '\n' not in line and line.startswith(f"ERROR {d/'segments.npy'}: annotation file") and expected in line, line


@pytest.mark.parametrize('name', [n for n in CRAFTED if '(issue)' in n])
def test_crafted_file_through_co2net_train(tmp_path, name):
    "The issue's scenario: `co2net train --data-root` on a folder with the crafted segments.npy: one line, rc 2, nothing written."
    d = crafted_segments(tmp_path/'data', CRAFTED[name][0])
    cli = 'import sys; from co2net.cli import main; sys.argv[0] = "co2net"; main()'
    p = subprocess.run([sys.executable, '-c', cli, 'train', '--data-root', str(d.parent), '--out', str(tmp_path/'run'),
                        '--device', 'cpu'], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert p.returncode == 2, (p.returncode, p.stderr[-500:])
    err = p.stderr.strip()
    assert '\n' not in err and f"{d/'segments.npy'}: annotation file: refused" in err, err
    assert not (tmp_path/'run').exists()


def test_numpy_unpickling_code_is_never_called(tmp_path, monkeypatch):
    "The real pickled files load as np.load reads them with every allowed numpy function replaced by one that fails."
    from co2net import safe_files
    def never(*a, **k): raise AssertionError('a numpy unpickling function was called')
    monkeypatch.setattr(safe_files, 'SAFE_PICKLE_GLOBALS', {k: never for k in safe_files.SAFE_PICKLE_GLOBALS})
    files = [p for p in sorted((ROOT/'data_samples').glob('*-Annotations/*.npy')) if np.load(p, allow_pickle=True).dtype == object]
    assert len(files) >= 9
    for p in files:
        a, b = safe_files.load_npy(p), np.load(p, allow_pickle=True)
        assert a.shape == b.shape and all(str(x) == str(y) for x, y in zip(a, b))
    d = crafted_segments(tmp_path, CRAFTED['hidden object field, flags 0, 0x41 bytes (issue)'][0])
    with pytest.raises(safe_files.UnsafeFileError, match=r"refused: numpy\.dtype\('V8'\)"): safe_files.load_npy(d/'segments.npy')


def test_fuzzed_real_files_never_crash():
    "300 mutated copies of the real files (seed 0): each a clean load or a one-line error naming the file; no crash."
    r = fuzz_npy.run(300, seed=0, workers=2, batch=150)
    assert r['cases'] == 300 and r['counts']['crash'] == 0 and r['counts']['other'] == 0, json.dumps(r['bad'])[:2000]
    assert r['counts']['clean'] > 0 and r['counts']['error'] > 0       # both kinds occur: the mutations reach the reader


def _npy(path, blob, shape):
    with open(path, 'wb') as f:
        np.lib.format.write_array_header_1_0(f, {'descr': '|O', 'fortran_order': False, 'shape': shape}); f.write(blob)
    return path


@pytest.mark.parametrize('protocol', [2, 3, 4, 5])
def test_large_payloads_load_as_np_load_reads_them(tmp_path, protocol):
    "Arrays of 1 MB and more (read into a buffer of their own, used in place): same values, writable; bytes stay bytes."
    from co2net.safe_files import load_npy
    rng = np.random.default_rng(0)
    a = np.empty(4, object)
    a[0] = rng.random((700, 2048)).astype(np.float32); a[1] = np.asfortranarray(rng.random((600, 400)))
    a[2] = np.arange(5.); a[3] = [b'x' * (2 << 20), (b'y' * (2 << 20), 'z')]
    p = _npy(tmp_path/'f.npy', pickle.dumps(a, protocol=protocol), (4,))
    b, ref = load_npy(p, encoding='bytes'), np.load(p, allow_pickle=True, encoding='bytes')
    assert all(np.array_equal(x, y) and x.dtype == y.dtype and x.flags.writeable for x, y in zip(b[:3], ref[:3]))
    assert [type(v) for v in b[3]] == [bytes, tuple] and type(b[3][1][0]) is bytes and b[3] == ref[3]
    b[0][0, 0] = -1.0                                                    # writable, and its own memory
    assert load_npy(p, encoding='bytes')[0][0, 0] == a[0][0, 0]


def test_large_payload_cut_or_reused_is_refused(tmp_path):
    from co2net.safe_files import load_npy
    a = np.empty(1, object); a[0] = np.zeros((1000, 400))                     # 3.2 MB of data
    blob = pickle.dumps(a, protocol=4)
    with pytest.raises(ValueError, match='truncated or corrupt.*the file ends'):
        load_npy(_npy(tmp_path/'cut.npy', blob[:len(blob) // 2], (1,)))
    # the array's data fetched back from the memo for a second array: refused
    big = b'\x00' * (1 << 20)
    c = np.empty(2, object); c[0] = FakeArray(np.dtype('u1'), (1 << 20,), big); c[1] = FakeArray(np.dtype('u1'), (1 << 20,), big)
    with pytest.raises(ValueError, match='refers back'):
        load_npy(_npy(tmp_path/'again.npy', pickle.dumps(c, protocol=4), (2,)))
