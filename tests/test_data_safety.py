"""Safety of the data layer (issue 12, items 1, 7 and 9): no code runs from a data file, truncated or corrupt
files are named, and one dtype/width rule holds for features in every layout.

The crafted files carry a payload that creates a marker file when unpickled; the proof that nothing ran is
that the marker does not exist afterwards. `test_payload_is_live` shows that the same file does create the
marker through `np.load(..., allow_pickle=True)`, i.e. that the payload is a real one.
"""
import os, pickle, pickletools, shutil, subprocess, sys
from pathlib import Path

import numpy as np
import pytest

from co2net import data, safe_files
from co2net.data import (ArrayFeatureStore, WtalcDataset, check_feature_array, load_annotations, load_dataset,
                         load_npy, write_annotations)

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT/'data_samples'
THUMOS = SAMPLES/'Thumos14reduced-Annotations'
SHARED = ROOT.parent/'shared'/'data'  # the untouched public copies, where the checkout has them
SYSTEM = f'{os.system.__module__}.system'  # how os.system is named inside a pickle ('posix.system' on Linux)


class Payload:
    "Unpickling this runs `touch marker`."
    def __init__(self, marker): self.marker = str(marker)
    def __reduce__(self): return (os.system, (f'touch {self.marker}',))


def obj_array(items):
    a = np.empty(len(items), dtype=object)
    for i, x in enumerate(items): a[i] = x
    return a


def npy_with_pickle(path, payload: bytes, shape):
    "A .npy file: an object-array header, then the given pickle bytes."
    with open(path, 'wb') as f:
        np.lib.format.write_array_header_1_0(f, {'descr': '|O', 'fortran_order': False, 'shape': shape})
        f.write(payload)
    return path


def save_obj(path, arr, protocol):
    "np.save of an object array, with a chosen pickle protocol."
    return npy_with_pickle(path, pickle.dumps(arr, protocol=protocol), arr.shape)


def as_numpy1(blob: bytes) -> bytes:
    "The same pickle with the names numpy 1.x writes (numpy.core.* instead of numpy._core.*), frames rebuilt."
    for name in (b'numpy._core.multiarray', b'numpy._core.numeric'):
        new = name.replace(b'._core.', b'.core.')
        blob = blob.replace(b'\x8c' + bytes([len(name)]) + name, b'\x8c' + bytes([len(new)]) + new)  # protocol >= 4
        blob = blob.replace(b'c' + name + b'\n', b'c' + new + b'\n')  # protocol <= 3: GLOBAL lines
    return pickletools.optimize(blob)


def annotation_copy(tmp_path, name='Thumos14reduced'):
    d = tmp_path/f'{name}-Annotations'
    shutil.copytree(THUMOS, d)
    for p in [d, *d.iterdir()]: p.chmod(0o755 if p.is_dir() else 0o644)
    return d


def crafted_segments(marker):
    segs = np.load(THUMOS/'segments.npy', allow_pickle=True).copy()  # the real, trusted file
    segs[5] = [[1.0, 2.0], Payload(marker)]
    return segs


def same(a, b):
    "Equal in type and value all the way down."
    if type(a) is not type(b): return False
    if isinstance(a, np.ndarray):
        if (a.dtype, a.shape) != (b.dtype, b.shape): return False
        if a.dtype == object: return all(same(u, v) for u, v in zip(a.ravel(), b.ravel()))
        return np.array_equal(a, b, equal_nan=a.dtype.kind in 'fc')
    if isinstance(a, (list, tuple)): return len(a) == len(b) and all(same(u, v) for u, v in zip(a, b))
    return a == b or (a != a and b != b)


# ------------------------------------------------------------------------------------------ item 1: no code runs
def test_payload_is_live(tmp_path):
    "Positive control: the crafted file does run its command through np.load(allow_pickle=True)."
    marker = tmp_path/'marker'
    save_obj(tmp_path/'segments.npy', crafted_segments(marker), 2)
    np.load(tmp_path/'segments.npy', allow_pickle=True)
    assert marker.exists()


@pytest.mark.parametrize('protocol', [2, 4, 5])
@pytest.mark.parametrize('stem', ['segments', 'labels', 'labels_all', 'original_fps'])
def test_annotation_payload_refused(tmp_path, stem, protocol):
    marker = tmp_path/'marker'
    d = annotation_copy(tmp_path)
    arr = crafted_segments(marker) if stem == 'segments' else obj_array([[Payload(marker)]] + [[] for _ in range(411)])
    save_obj(d/f'{stem}.npy', arr, protocol)
    with pytest.raises(ValueError) as e: load_annotations(d)
    assert f'{d/stem}.npy: refused to unpickle the annotation file: it names {SYSTEM}' in str(e.value)
    assert not marker.exists()


def test_refused_before_any_object_is_built(tmp_path, monkeypatch):
    "The opcode scan refuses the file: the unpickler is never even created."
    marker = tmp_path/'marker'
    save_obj(tmp_path/'segments.npy', crafted_segments(marker), 4)
    def never(*a, **k): raise AssertionError('the unpickler was created')
    monkeypatch.setattr(safe_files, '_SafeUnpickler', never)
    with pytest.raises(safe_files.UnsafeFileError, match='no object was built'): load_npy(tmp_path/'segments.npy')
    assert not marker.exists()


def test_second_line_of_defence(tmp_path):
    "Without the scan, the restricted unpickler alone refuses the import."
    marker = tmp_path/'marker'
    save_obj(tmp_path/'segments.npy', crafted_segments(marker), 2)
    with open(tmp_path/'segments.npy', 'rb') as f:
        np.lib.format.read_magic(f); np.lib.format.read_array_header_1_0(f)
        with pytest.raises(safe_files.UnsafeFileError, match=f'imports {SYSTEM}'): safe_files._SafeUnpickler(f, 'x').load()
    assert not marker.exists()


def test_feature_file_payload_refused(tmp_path):
    marker = tmp_path/'marker'
    ann = load_annotations(THUMOS)
    root = tmp_path/'root'
    write_annotations(ann, root/'Thumos14reduced-Annotations')
    feats = [np.ones((3, 8), np.float32)] * 411 + [Payload(marker)]
    save_obj(root/'Thumos14reduced-I3D-JOINTFeatures.npy', obj_array(feats), 4)
    with pytest.raises(ValueError, match='refused to unpickle the feature file'): load_dataset(root, 'Thumos14reduced')
    with pytest.raises(ValueError, match=SYSTEM): ArrayFeatureStore.from_file(root/'Thumos14reduced-I3D-JOINTFeatures.npy')
    assert not marker.exists()


def test_cli_train_runs_no_code_from_the_data(tmp_path):
    "The scenario of the report: `co2net train --data-root` on a folder with a crafted segments.npy."
    marker = tmp_path/'marker'
    d = annotation_copy(tmp_path/'data')
    save_obj(d/'segments.npy', crafted_segments(marker), 2)
    cli = 'import sys; from co2net.cli import main; sys.argv[0] = "co2net"; main()'
    p = subprocess.run([sys.executable, '-c', cli, 'train', '--data-root', str(tmp_path/'data'),
                        '--out', str(tmp_path/'run'), '--device', 'cpu'],
                       cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert p.returncode != 0
    assert 'refused to unpickle' in p.stdout + p.stderr
    assert not marker.exists()


@pytest.mark.parametrize('pickle_bytes, message', [
    (b"(S'x'\nios\nsystem\n.", 'opcode INST'),  # protocol 0 INST: builds without a checked import
    (b'\x80\x04\x8c\x05posix\x8c\x04junk0\x8c\x06system\x93.', 'cannot tell which name'),  # name hidden behind a POP
    (b'\x80\x04\x8c\x05posix\x94\x8c\x06system\x94h\x00h\x01\x93.', 'it names posix.system'),  # names from the memo
    (b'\x80\x02cbuiltins\nset\n]\x85R.', 'it names builtins.set'),  # plain, but not in the allowed list
    (b'\x80\x02c__builtin__\nbytes\nJ\x00\x00\x00\x40\x85R.', r'bytes\(\) called with 1'),  # bytes(2**30): allowed name, refused use
])
def test_scan_cases(tmp_path, pickle_bytes, message):
    with pytest.raises(safe_files.UnsafeFileError, match=message): load_npy(npy_with_pickle(tmp_path/'x.npy', pickle_bytes, (1,)))


# --------------------------------------------------------------------------- real files load exactly as before
REAL_FILES = sorted(SAMPLES.glob('**/*.npy')) + sorted(SHARED.glob('*-Annotations/*.npy')) + sorted(SHARED.glob('i3d_real/*.npy'))

@pytest.mark.parametrize('path', REAL_FILES, ids=lambda p: f'{p.parent.name}/{p.name}')
def test_real_files_load_as_before(path):
    for enc in ('ASCII', 'bytes'):
        assert same(load_npy(path, encoding=enc), np.load(path, allow_pickle=True, encoding=enc))


def test_real_annotation_folders_as_before():
    "The whole Annotations object equals what the previous reader (np.load(allow_pickle=True)) gives."
    for folder in [THUMOS, SAMPLES/'ActivityNet1.2-Annotations', SAMPLES/'SynThumos-Annotations']:
        ann = load_annotations(folder)
        seg = np.load(folder/'segments.npy', allow_pickle=True)
        lab_all = np.load(folder/'labels_all.npy', allow_pickle=True)
        assert all(np.array_equal(a, np.asarray(s, dtype=np.float64).reshape(-1, 2)) for a, s in zip(ann.segments, seg))
        assert ann.labels_all == [[str(l) for l in x] for x in lab_all]
        assert sorted(ann.extra) == sorted(p.stem for p in folder.glob('*.npy') if p.stem not in data.ANNOTATION_FILES)


@pytest.mark.parametrize('protocol', range(6))
def test_numpy_names_both_versions(tmp_path, protocol):
    "numpy 2.x names (numpy._core.*) as written today and numpy 1.x names (numpy.core.*) both load, at every protocol."
    mixed = obj_array([[np.float64(1.5), np.str_('a'), np.bytes_(b''), 3, None, True], (b'raw', 'txt', b''), np.arange(4.0),
                       np.zeros((0, 2), np.float32)])
    blob = pickle.dumps(mixed, protocol=protocol)
    old = as_numpy1(blob)
    assert b'numpy._core' not in old and b'numpy.core.multiarray' in old
    for name, payload in (('np2', blob), ('np1', old)):
        assert same(load_npy(npy_with_pickle(tmp_path/f'{name}.npy', payload, (4,))), mixed)


# ---------------------------------------------------------------------------- item 7: truncated and corrupt files
def test_truncated_annotation_files(tmp_path):
    src = (THUMOS/'segments.npy').read_bytes()
    for n, message in [(0, 'is empty (0 bytes)'), (30, 'not a valid .npy file or its header is cut off'),
                       (300, 'truncated or corrupt'), (len(src) - 1, 'truncated or corrupt')]:
        d = annotation_copy(tmp_path/str(n))
        (d/'segments.npy').write_bytes(src[:n])
        with pytest.raises(ValueError) as e: load_annotations(d)
        assert str(d/'segments.npy') in str(e.value) and message in str(e.value)
    d = annotation_copy(tmp_path/'dur')
    (d/'duration.npy').write_bytes((THUMOS/'duration.npy').read_bytes()[:500])
    with pytest.raises(ValueError, match='duration.npy: annotation file is truncated: its header announces float64'):
        load_annotations(d)


def test_empty_videoname(tmp_path):
    d = annotation_copy(tmp_path/'a')
    (d/'videoname.npy').write_bytes(b'')
    with pytest.raises(ValueError, match='videoname.npy: annotation file is empty'): load_annotations(d)
    d = annotation_copy(tmp_path/'b')
    np.save(d/'videoname.npy', np.zeros(0, 'S1'))
    with pytest.raises(ValueError, match='videoname.npy: lists no videos'): load_annotations(d)


def tiny_root(tmp_path, width=8, dtype=np.float32, folder=False):
    "Thumos14reduced annotations + small features, as the object-array file or as a per-video folder."
    ann = load_annotations(THUMOS)
    root = tmp_path/'root'
    write_annotations(ann, root/'Thumos14reduced-Annotations')
    rng = np.random.default_rng(0)
    feats = [(rng.random((max(1, int(round(d * 25 / 16))), width)) * 10).astype(dtype) for d in ann.duration]
    if folder:
        (root/'Thumos14reduced-I3D-JOINTFeatures').mkdir()
        for n, x in zip(ann.names, feats): np.save(root/'Thumos14reduced-I3D-JOINTFeatures'/f'{n}.npy', x)
    else: np.save(root/'Thumos14reduced-I3D-JOINTFeatures.npy', obj_array(feats), allow_pickle=True)
    return root, ann, feats


def test_truncated_feature_file(tmp_path):
    root, _, _ = tiny_root(tmp_path)
    f = root/'Thumos14reduced-I3D-JOINTFeatures.npy'
    f.write_bytes(f.read_bytes()[:f.stat().st_size // 2])
    with pytest.raises(ValueError, match=f'{f}: feature file is truncated or corrupt'): load_dataset(root, 'Thumos14reduced')


def test_truncated_per_video_file(tmp_path):
    root, ann, feats = tiny_root(tmp_path, folder=True)
    f = root/'Thumos14reduced-I3D-JOINTFeatures'/f'{ann.names[7]}.npy'
    f.write_bytes(f.read_bytes()[:-40])
    with pytest.raises(ValueError) as e: load_dataset(root, 'Thumos14reduced', check_values=False)
    assert f'{f}: feature file is truncated: its header announces float32 ({len(feats[7])}, 8)' in str(e.value)
    assert 'mmap' not in str(e.value)


def test_corrupt_pickle_named(tmp_path):
    b = bytearray((THUMOS/'labels.npy').read_bytes()); b[400:440] = b'\xff' * 40
    (tmp_path/'labels.npy').write_bytes(bytes(b))
    with pytest.raises(ValueError, match='labels.npy: annotation file is truncated or corrupt'):
        load_npy(tmp_path/'labels.npy', 'annotation file')


# ------------------------------------------------------------------------------- item 9: one feature dtype/width rule
@pytest.mark.parametrize('folder', [False, True], ids=['object-array', 'folder'])
def test_integer_features_refused_in_both_layouts(tmp_path, folder):
    root, ann, _ = tiny_root(tmp_path, dtype=np.int64, folder=folder)
    with pytest.raises(ValueError, match=f'video {ann.names[0]}: features of dtype int64 \\(integers\\); expected real floating point'):
        load_dataset(root, 'Thumos14reduced')


@pytest.mark.parametrize('folder', [False, True], ids=['object-array', 'folder'])
def test_width_required(tmp_path, folder):
    "A 32-wide file in a 64-wide setup is an error naming the [RGB | FLOW] split, not a silent 16/16 split."
    root, ann, _ = tiny_root(tmp_path, width=32, folder=folder)
    with pytest.raises(ValueError) as e: load_dataset(root, 'Thumos14reduced', feature_dim=64)
    msg = str(e.value)
    assert f'video {ann.names[0]}: feature width 32, expected 64 = RGB 32 + FLOW 32 per snippet ([RGB | FLOW] concatenated)' in msg
    assert 'RGB-only or FLOW-only' in msg
    assert load_dataset(root, 'Thumos14reduced', feature_dim=32).feature_dim == 32


def test_check_feature_array_rule():
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    assert check_feature_array(x, 'v') is x
    for dt in (np.float16, np.float64):
        y = check_feature_array(x.astype(dt), 'v', 4)
        assert y.dtype == np.float32 and np.array_equal(y, x)
    for dt in (np.int32, np.uint16, bool, np.complex128, object):
        with pytest.raises(ValueError, match=f'clip.npy: features of dtype {np.dtype(dt)}'): check_feature_array(x.astype(dt), 'clip.npy')
    with pytest.raises(ValueError, match=r'expected 2048 = RGB 1024 \+ FLOW 1024 per snippet'):
        check_feature_array(np.ones((2, 1024), np.float32), 'clip.npy', 2048)
    with pytest.raises(ValueError, match='NaN/Inf'): check_feature_array(np.array([[1.0, np.nan]]), 'v')


def test_feature_width_option_validated():
    ann = load_annotations(THUMOS)
    feats = [np.ones((2, 8), np.float32)] * len(ann)
    for bad in (7, 0, -2, 8.0, '8', True):
        with pytest.raises(ValueError, match='positive even number'): WtalcDataset(ann, feats, feature_dim=bad)


def test_check_feature_file_reads_the_header_only(tmp_path):
    "The same rule from a .npy header (for checks before any compute): shape/dtype/width, truncation, pickles."
    p = tmp_path/'clip.npy'
    np.save(p, np.ones((6, 1024), np.float32))
    assert data.check_feature_file(p) == ((6, 1024), np.dtype(np.float32))
    with pytest.raises(ValueError, match=r'feature width 1024, expected 2048 = RGB 1024 \+ FLOW 1024.*RGB-only'):
        data.check_feature_file(p, 2048)
    p.write_bytes(p.read_bytes()[:-8])
    with pytest.raises(ValueError, match='feature file is truncated'): data.check_feature_file(p)
    marker = tmp_path/'marker'
    save_obj(p, obj_array([Payload(marker)]), 4)
    with pytest.raises(ValueError, match='features of dtype object'): data.check_feature_file(p)
    assert not marker.exists()


@pytest.mark.parametrize('bad', ['../../x', 'sub/video', '.hidden', 'a\0b', '..'])
def test_video_name_that_leaves_the_features_folder_is_refused(tmp_path, bad):
    "A videoname.npy entry like '../../x' would make the per-video layout read x.npy from outside the features folder."
    d = annotation_copy(tmp_path)
    names = load_npy(d/'videoname.npy').copy()
    names[3] = bad.encode() if names.dtype.kind == 'S' else bad
    np.save(d/'videoname.npy', names, allow_pickle=names.dtype.kind == 'O')
    with pytest.raises(ValueError, match=r"videoname\.npy: video name .* \(entry 3\)"): load_annotations(d)
