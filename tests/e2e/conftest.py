"""One real local stack for all end-to-end tests (started once, stopped with Ctrl-C at the end)."""

import pytest

from tests.e2e.stack import Stack


@pytest.fixture(scope="session")
def stack():
    s = Stack()
    yield s
    assert s.stop() == 0, s.output()[-2000:]
    assert "[devstack] stopped" in s.output()
