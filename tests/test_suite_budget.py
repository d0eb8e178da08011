"""The suite's time budget (tests/conftest.py): a test over KDLIB_TEST_BUDGET_S fails the session by name, and every
run prints its time per file."""
from __future__ import annotations

from pathlib import Path

pytest_plugins = ["pytester"]

CONFTEST = (Path(__file__).resolve().parent / "conftest.py").read_text()


def test_a_test_over_the_budget_fails_the_session_and_is_named(pytester, monkeypatch):
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_slow="import time\n\ndef test_slow():\n    time.sleep(0.5)\n\ndef test_quick():\n    pass\n")
    monkeypatch.setenv("KDLIB_TEST_BUDGET_S", "0.3")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)  # both tests pass; the session does not
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*time per file*", "*s  test_slow.py", "*over the time budget*",
                                 "*> 0.3 s (KDLIB_TEST_BUDGET_S): test_slow.py::test_slow"])
    assert "test_quick" not in result.stdout.str().split("over the time budget")[1]  # within the budget: not named
