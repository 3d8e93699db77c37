"""emo.core.errors.reported: what an entry point prints when it stops."""

import subprocess
import sys


def test_reported_errors_escape_names_but_keep_their_line_breaks():
    code = ("from emo.core.errors import EmoError, reported\n"
            "with reported():\n    raise EmoError('bad\\rclip.wav: damaged:\\n  second line\\x1b[31m')")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 1
    assert run.stderr == "error: bad\\rclip.wav: damaged:\n  second line\\x1b[31m\n"


def test_a_full_disk_met_by_any_write_is_one_line():
    code = ("import errno\nfrom emo.core.errors import reported\n"
            "with reported():\n    raise OSError(errno.ENOSPC, 'No space left on device', 'metrics/x\\r.json')")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 1
    assert run.stderr.startswith("error: No space left on device while writing metrics/x\\r.json; free some space")
    assert "Traceback" not in run.stderr and run.stderr.count("\n") == 1


def test_other_os_errors_are_not_disguised():
    code = "from emo.core.errors import reported\nwith reported():\n    raise PermissionError(13, 'denied', 'x')"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 1 and "PermissionError" in run.stderr
