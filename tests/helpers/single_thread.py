"""A fixture for tests of tiny models: on a shared 2-core machine they run several times
faster single-threaded (OpenMP spin-waits under oversubscription). Import it into a test
module to apply it there: ``from tests.single_thread import one_thread  # noqa: F401``."""

import pytest
import torch


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
