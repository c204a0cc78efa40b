"""Fixtures for the sandbox tests: a started Sandbox per test (cheap: two local servers)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from wistia_pipeline.sandbox import Sandbox


@pytest.fixture
def sb() -> Iterator[Sandbox]:
    with Sandbox() as sandbox:
        yield sandbox
