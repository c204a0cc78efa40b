"""The PostgreSQL fixture without PostgreSQL: skipped with the reason off CI, a failure in CI."""

from __future__ import annotations

import pytest

from wistia_pipeline_tests import postgres


@pytest.fixture
def no_programs(monkeypatch):
    monkeypatch.setattr(postgres, "find_bindir", lambda: None)


def test_without_the_programs_a_test_is_skipped_saying_how_to_install_them(no_programs, monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install postgresql"):
        postgres.require_bindir()


@pytest.mark.parametrize("value", ["true", "TRUE", "1"])
def test_in_ci_missing_programs_fail_the_test(no_programs, monkeypatch, value):
    monkeypatch.setenv("CI", value)
    with pytest.raises(pytest.fail.Exception, match="in CI"):
        postgres.require_bindir()


def test_the_programs_are_found_where_debian_puts_them_or_on_the_path():
    bindir = postgres.find_bindir()
    if bindir is None:
        pytest.skip("PostgreSQL is not installed here")
    assert all((bindir / name).exists() for name in postgres.PROGRAMS)
