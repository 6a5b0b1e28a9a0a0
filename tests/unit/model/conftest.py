"""A small routing model fitted once for the tests that need a whole one."""

from __future__ import annotations

import pytest

from routing_core.model import RoutingModel
from tests.unit.model.tables import options_table


@pytest.fixture(scope="session")
def toy_model():
    ops = options_table(per_combo=20)
    return ops, RoutingModel(n_jobs=1).fit(ops, ["heat", "coat", "size"], ["work_center"])
