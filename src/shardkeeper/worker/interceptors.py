"""Activity interceptor: domain errors become ApplicationErrors (activities/failures.py)."""

from __future__ import annotations

from typing import Any

from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)

from shardkeeper.activities.failures import to_application_error
from shardkeeper.errors import ShardkeeperError


class _ErrorMapping(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        try:
            return await self.next.execute_activity(input)
        except ShardkeeperError as err:
            raise to_application_error(err) from err


class ErrorMappingInterceptor(Interceptor):
    """Installs the error mapping on every activity of the worker."""

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        """Wrap the activity inbound chain."""
        return _ErrorMapping(next)
