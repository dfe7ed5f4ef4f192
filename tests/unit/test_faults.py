"""Crash points (services/runtime/faults.py). Every test that could kill a process runs in a child process: an
armed point that fired in the test runner would take the whole run with it."""
import json
import os
import signal
import subprocess
import sys

import pytest

from services.runtime import faults
from tests.support import ROOT

SCRIPT = """
import sys
from services.runtime.faults import crash_point
from services.runtime.logs import configure_logging
configure_logging("info")                    # JSON lines on stderr, as `certplane run` logs
for name in sys.argv[1:]:
    crash_point(name)
    print("passed", name, flush=True)
print("done", flush=True)
"""


def _run(points: list[str], crash_at: str | None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != faults.ENV}
    if crash_at is not None:
        env[faults.ENV] = crash_at
    return subprocess.run([sys.executable, "-c", SCRIPT, *points], env=env, cwd=str(ROOT), capture_output=True,
                          text=True, timeout=60)


def _passed(result: subprocess.CompletedProcess) -> list[str]:
    return [line.split(" ", 1)[1] for line in result.stdout.splitlines() if line.startswith("passed ")]


def _reached_lines(result: subprocess.CompletedProcess) -> list[dict]:
    lines = []
    for line in (result.stdout + result.stderr).splitlines():
        if "crash_point_reached" in line:
            start = line.find("{")
            lines.append(json.loads(line[start:]) if start >= 0 else {"raw": line})
    return lines


@pytest.mark.parametrize(("value", "armed"), [
    ("", {}),
    ("ca.signed", {"ca.signed": 1}),
    ("ca.signed:3", {"ca.signed": 3}),
    (" ca.signed , enrollment.outcome:2 ,", {"ca.signed": 1, "enrollment.outcome": 2}),
])
def test_the_variable_names_points_and_the_arrival_that_kills(value, armed):
    assert faults.parse_crash_at(value) == armed


@pytest.mark.parametrize("value", ["ca.signed:0", "ca.signed:x", ":2", "ca.signed:-1", "ca.signed:"])
def test_a_malformed_variable_is_refused_rather_than_never_firing(value):
    with pytest.raises(ValueError, match="CERTPLANE_CRASH_AT"):
        faults.parse_crash_at(value)


def test_unset_every_point_is_passed():
    result = _run(["ca.signed", "ca.committed", "ca.signed"], None)
    assert result.returncode == 0, result.stderr
    assert _passed(result) == ["ca.signed", "ca.committed", "ca.signed"]
    assert "done" in result.stdout and not _reached_lines(result)


def test_an_armed_point_kills_the_process_with_sigkill_the_first_time():
    result = _run(["enrollment.recorded", "ca.signed", "ca.committed"], "ca.signed")
    assert result.returncode == -signal.SIGKILL, (result.returncode, result.stdout, result.stderr)
    assert _passed(result) == ["enrollment.recorded"]            # nothing runs after the kill, not even a print
    [line] = _reached_lines(result)
    assert line.get("event") == "crash_point_reached" and line.get("point") == "ca.signed"
    assert line.get("level") == "warning"


def test_name_colon_n_kills_on_the_nth_arrival_at_that_point_only():
    points = ["ca.signed", "ca.committed", "ca.signed", "ca.committed", "ca.signed", "ca.signed"]
    result = _run(points, "ca.signed:3")
    assert result.returncode == -signal.SIGKILL, result.stderr
    assert _passed(result) == points[:4]           # the other point's arrivals do not count towards ca.signed's
    [line] = _reached_lines(result)
    assert line.get("point") == "ca.signed" and line.get("time") == 3


def test_a_list_arms_several_points_and_the_first_due_kills():
    result = _run(["a", "b", "a", "b"], "b:2,a:5")
    assert result.returncode == -signal.SIGKILL
    assert _passed(result) == ["a", "b", "a"]


def test_an_unrelated_armed_point_lets_the_process_finish():
    result = _run(["ca.signed", "ca.signed"], "ca.signed:3,enrollment.outcome")
    assert result.returncode == 0, result.stderr
    assert "done" in result.stdout


def test_the_variable_is_read_once_per_process():
    script = ("import os\nfrom services.runtime.faults import crash_point\ncrash_point('x')\n"
              "os.environ['CERTPLANE_CRASH_AT'] = 'x'\ncrash_point('x')\nprint('alive', flush=True)\n")
    env = {k: v for k, v in os.environ.items() if k != faults.ENV}
    result = subprocess.run([sys.executable, "-c", script], env=env, cwd=str(ROOT), capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0 and "alive" in result.stdout, (result.returncode, result.stderr)


def test_unset_in_this_process_a_call_returns_nothing(monkeypatch):
    monkeypatch.delenv(faults.ENV, raising=False)
    faults._reset_for_tests()
    try:
        assert faults.crash_point("ca.signed") is None
        assert faults._armed == {}
    finally:
        faults._reset_for_tests()
