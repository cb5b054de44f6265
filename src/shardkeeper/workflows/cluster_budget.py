"""ClusterBudget: the per-cluster semaphore behind ``maxConcurrentShards``.

Holders (ShardBackup workflows) ask through signal-with-start (``request_lease``), wait for
``lease_granted``, and signal ``release_lease`` when done. Requests are served first come,
first served, each against its own limit. A holder that dies without releasing (terminated)
is found by a periodic ``running_workflows`` check while leases are out, so a lease never
leaks for good. The workflow never completes (completion could race a late request); it
continues-as-new with its state when the history grows.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from shardkeeper.contracts import names
    from shardkeeper.contracts.budget import (
        ClusterBudgetState,
        ClusterBudgetStatus,
        LeaseRequest,
        RunningWorkflowsInput,
        RunningWorkflowsResult,
    )
    from shardkeeper.workflows import policies

# How often leases are checked against their holders' liveness while any are out.
LIVENESS_CHECK = timedelta(seconds=60)


@workflow.defn(name=names.CLUSTER_BUDGET)
class ClusterBudgetWorkflow:
    """Grants at most ``limit`` concurrent leases per cluster."""

    @workflow.init
    def __init__(self, state: ClusterBudgetState) -> None:
        # State is restored here, not in run(): the request that started the workflow
        # (signal-with-start) is handled before run() begins and must not be overwritten.
        self._holders: list[str] = list(state.holders)
        self._queue: list[LeaseRequest] = list(state.queue)
        self._changed = False

    @workflow.signal(name=names.SIGNAL_REQUEST_LEASE)
    def request(self, req: LeaseRequest) -> None:
        """Queue a request (a repeated request of a holder is ignored)."""
        if req.holder not in self._holders and all(q.holder != req.holder for q in self._queue):
            self._queue.append(req)
        self._changed = True

    @workflow.signal(name=names.SIGNAL_RELEASE_LEASE)
    def release(self, holder: str) -> None:
        """Give a lease back (or withdraw a queued request)."""
        self._holders = [h for h in self._holders if h != holder]
        self._queue = [q for q in self._queue if q.holder != holder]
        self._changed = True

    @workflow.query(name="status")
    def status(self) -> ClusterBudgetStatus:
        """Current holders and waiters."""
        return ClusterBudgetStatus(holders=tuple(self._holders),
                                   waiting=tuple(q.holder for q in self._queue))

    @workflow.run
    async def run(self, state: ClusterBudgetState) -> None:
        """Serve requests forever."""
        while True:
            # Reset before granting: a request or release that arrives while a grant signal
            # is in flight must wake the next iteration, not be forgotten.
            self._changed = False
            await self._grant()
            if workflow.info().is_continue_as_new_suggested():
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(ClusterBudgetState(
                    cluster=state.cluster, holders=tuple(self._holders),
                    queue=tuple(self._queue)))
            timeout = LIVENESS_CHECK if (self._holders or self._queue) else None
            try:
                await workflow.wait_condition(lambda: self._changed, timeout=timeout)
            except TimeoutError:
                await self._drop_dead()

    async def _grant(self) -> None:
        while self._queue and len(self._holders) < max(1, self._queue[0].limit):
            req = self._queue.pop(0)
            self._holders.append(req.holder)
            try:
                await workflow.get_external_workflow_handle(req.holder).signal(
                    names.SIGNAL_LEASE_GRANTED
                )
            except Exception:  # the holder is gone (finished or terminated): free its slot
                workflow.logger.warning("lease holder gone", extra={"holder": req.holder})
                self._holders.remove(req.holder)

    async def _drop_dead(self) -> None:
        ids = tuple(self._holders) + tuple(q.holder for q in self._queue)
        alive = await workflow.execute_activity(
            names.RUNNING_WORKFLOWS,
            RunningWorkflowsInput(workflow_ids=ids),
            result_type=RunningWorkflowsResult,
            **policies.RESOLVE.options(),
        )
        running = set(alive.running)
        self._holders = [h for h in self._holders if h in running]
        self._queue = [q for q in self._queue if q.holder in running]
