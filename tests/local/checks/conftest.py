"""The role-access cloud (`role_access_cloud.make_cloud`) as the `cloud` fixture of the role-access tests.

test_role_calls defines its own `cloud` (another role on another bucket), which wins in that module.
"""

from __future__ import annotations

import pytest

from local_mode.cloud.moto_server import MotoServer
from tests.local.checks.role_access_cloud import Cloud, make_cloud


@pytest.fixture
def cloud(fresh_server: MotoServer) -> Cloud:
    return make_cloud(fresh_server)
