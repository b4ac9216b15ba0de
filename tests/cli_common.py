"""What the command-line tests share: `co2net ARGS` run in the test's own process, and a snapshot of a folder."""
import contextlib, io
from pathlib import Path


def run_in_process(args):
    "`co2net ARGS` in this process (no new Python): (exit status, stdout, stderr)."
    from co2net.cli import run_command
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err): status = run_command([str(a) for a in args])
    return status, out.getvalue(), err.getvalue()


def run(*args, expect=0):
    "`co2net ARGS` in this process, which must exit with `expect`: (stdout, stderr)."
    status, out, err = run_in_process(args)
    assert status == expect, f'co2net {" ".join(map(str, args))} exited {status}\n{out[-2000:]}\n{err[-2000:]}'
    return out, err


def tree(folder):
    "{relative path: bytes} of every file under `folder`."
    folder = Path(folder)
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob('*')) if p.is_file()}
