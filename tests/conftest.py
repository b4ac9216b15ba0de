"""What every test file shares: how the tests are split between processes.

`tests/run_all.py` runs pytest in two processes when pytest-xdist is installed (the `dev` extra), with
`--dist loadgroup`. Each file is one group, so its tests run in order in one process and a module fixture
(a trained run, a written video) is built once. The two files that start a local Ray cluster form one group,
so two Ray clusters never start on the machine at the same time.
"""
import pytest

RAY_FILES = {'test_sweep.py', 'test_sweep_safety.py'}

def pytest_configure(config):
    config.addinivalue_line('markers', 'xdist_group(name): tests that must run in the same pytest-xdist process')

def pytest_collection_modifyitems(config, items):
    for item in items:
        name = item.path.name
        item.add_marker(pytest.mark.xdist_group('ray' if name in RAY_FILES else name))
