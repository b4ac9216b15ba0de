"""What every test file shares: how the tests are split between processes.

`tests/run_all.py` runs pytest in two processes when pytest-xdist is installed (the `dev` extra), with
`--dist loadgroup`. Each file is one group, so its tests run in order in one process and a module fixture
(a trained run, a written video) is built once. The tests that start a local Ray cluster form one group of their
own, so two Ray clusters never start on the machine at the same time.
"""
import pytest

RAY_FILES = {'test_sweep.py'}                                   # its module fixture starts Ray
RAY_TESTS = {'test_lost_worker_is_retried_visibly_and_records_name_the_node',
             'test_failed_ray_start_is_retried_cleaned_up_and_auto_falls_back',
             'test_unreachable_ray_cluster_leaves_nothing'}

def pytest_configure(config):
    config.addinivalue_line('markers', 'xdist_group(name): tests that must run in the same pytest-xdist process')

def pytest_collection_modifyitems(config, items):
    for item in items:
        ray = item.path.name in RAY_FILES or item.originalname in RAY_TESTS
        item.add_marker(pytest.mark.xdist_group('ray' if ray else item.path.name))
