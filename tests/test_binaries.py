"""tests/binaries.need_binary: a missing program skips a test locally and fails it in CI."""

import sys
from pathlib import Path

import pytest

from tests.binaries import need_binary

MISSING = "margindesk-no-such-binary-7f3c"
ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("value", ["true", "TRUE", "1", "yes"])
def test_in_ci_a_missing_binary_fails_naming_it(monkeypatch, value):
    monkeypatch.setenv("CI", value)
    with pytest.raises(pytest.fail.Exception, match=MISSING) as failed:
        need_binary(MISSING, "the test of need_binary")
    assert "the test of need_binary" in str(failed.value)


@pytest.mark.parametrize("value", [None, "", "false", "0"])
def test_outside_ci_a_missing_binary_skips_naming_it(monkeypatch, value):
    if value is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", value)
    with pytest.raises(pytest.skip.Exception, match=MISSING):
        need_binary(MISSING, "the test of need_binary")


def test_a_missing_path_fails_in_ci_and_skips_outside(monkeypatch, tmp_path):
    missing = tmp_path / "bin" / "initdb"
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=str(missing)):
        need_binary(missing, "a private cluster")
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match=str(missing)):
        need_binary(missing, "a private cluster")


def test_a_file_that_is_not_executable_is_missing(monkeypatch, tmp_path):
    plain = tmp_path / "redis-server"
    plain.write_text("not a program")
    plain.chmod(0o644)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception):
        need_binary(plain, "a private Redis")


@pytest.mark.parametrize("ci", ["true", ""])
def test_a_present_binary_is_returned_by_name_or_path(monkeypatch, ci):
    monkeypatch.setenv("CI", ci)
    assert need_binary(sys.executable, "python") == sys.executable
    assert need_binary("sh", "a shell").endswith("/sh")


def test_in_a_run_under_ci_the_test_fails_not_skips(pytester, monkeypatch):
    """The outcome pytest reports for a test whose fixture needs a missing binary."""
    pytester.makeconftest(
        f"""
import pytest
from tests.binaries import need_binary

@pytest.fixture
def program():
    return need_binary({MISSING!r}, "this test")
"""
    )
    pytester.makepyfile("def test_uses_it(program):\n    pass\n")
    monkeypatch.setenv("PYTHONPATH", str(ROOT))  # `tests.binaries`, from this checkout
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")  # no Django, no Playwright
    monkeypatch.setenv("CI", "true")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([f"*{MISSING} not found: needed for this test*"])
    monkeypatch.setenv("CI", "false")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines([f"*{MISSING} not found: needed for this test*"])
