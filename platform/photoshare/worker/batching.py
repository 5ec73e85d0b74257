"""Batched captioning on RQ: the worker takes the photo jobs waiting in the queue together.

The model is much cheaper per photo on a batch (one encoder pass, one beam search over
all images), so when the worker picks up a photo job and more photo jobs are waiting right
behind it, it takes up to CAPTION_BATCH_SIZE of them, captions their photos in one pass
(jobs.caption_photos_together), then runs every job through RQ's own job execution one
after the other: each job records its own photo's result, and RQ writes its status,
result, failure callback and retries as for any job. Nothing ever waits for a batch to
fill: an idle worker runs a lone upload at once.

While the batch runs, every job of it is "started" by this worker in RQ (its execution
and the started-job registry, as RQ does for the job it runs): reconciliation then sees
live jobs while the worker beats, and re-queues their photos if it dies.
"""

from __future__ import annotations

import logging

from rq import SimpleWorker
from rq.job import Job
from rq.queue import Queue
from rq.timeouts import JobTimeoutException
from rq.worker import WorkerStatus

from ..queueing import CAPTION_JOB
from . import jobs

log = logging.getLogger("photoshare.worker")

# Take one queued job id if it is still in the queue, moving it to RQ's intermediate list
# as RQ's own dequeue (LMOVE) does; atomic, so of several workers exactly one gets a job.
TAKE_JOB_SCRIPT = """
if redis.call('LREM', KEYS[1], 1, ARGV[1]) == 1 then
    redis.call('RPUSH', KEYS[2], ARGV[1])
    return 1
end
return 0
"""


def is_photo_job(job: Job) -> bool:
    """A stored photo's caption job (the only kind captioned in batches)."""
    try:
        return job.func_name == CAPTION_JOB and len(job.args) == 1
    except Exception:  # data RQ cannot deserialize: leave the job to RQ, which fails it
        return False


class BatchingWorker(SimpleWorker):
    """RQ's SimpleWorker (jobs run in this process: no fork after TensorFlow is loaded)
    that captions up to `batch_size` waiting photo jobs in one pass of the model."""

    def __init__(self, *args, batch_size: int = 8, **kwargs):
        super().__init__(*args, **kwargs)
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.batch_size = batch_size
        self._take_job = self.connection.register_script(TAKE_JOB_SCRIPT)

    def execute_job(self, job: Job, queue: Queue):
        batch = [job]
        if self.batch_size > 1 and is_photo_job(job):
            batch += self.take_waiting_photo_jobs(queue, self.batch_size - 1)
        if len(batch) == 1:
            return super().execute_job(job, queue)
        return self.execute_batch(batch, queue)

    def take_waiting_photo_jobs(self, queue: Queue, limit: int) -> list[Job]:
        """Up to `limit` photo jobs from the head of `queue`, in queue order. Stops at the
        first job of another kind: an API caption request waits behind the photo jobs
        queued before it, never behind ones queued after it."""
        taken = []
        job_ids = queue.get_job_ids(0, limit)
        for candidate in self.job_class.fetch_many(job_ids, connection=self.connection, serializer=self.serializer):
            if candidate is None:  # deleted meanwhile: RQ's own dequeue skips it
                continue
            if not is_photo_job(candidate):
                break
            if self._take_job(keys=[queue.key, queue.intermediate_queue_key], args=[candidate.id]):
                taken.append(candidate)
        return taken

    def execute_batch(self, batch: list[Job], queue: Queue) -> None:
        executions = {}
        for job in batch:  # what RQ does when it starts a job, for each job of the batch
            executions[job.id] = self.prepare_execution(job)
            self.prepare_job_execution(job)
        timeout = max(job.timeout or Queue.DEFAULT_TIMEOUT for job in batch)
        try:
            with self.death_penalty_class(timeout, JobTimeoutException, job_id=batch[0].id):
                jobs.caption_photos_together([(job.id, job.args[0]) for job in batch], self.name)
        except Exception as error:
            # Which photo broke the model is unknown: each job retries on its own below.
            log.warning("batch of %d photos failed (%s: %s); captioning them one by one",
                        len(batch), type(error).__name__, error)
        try:
            for job in batch:
                self.execution = executions[job.id]
                self.perform_job(job, queue)  # records the result; RQ finishes the job
        finally:
            jobs.forget_ready([job.id for job in batch])
            self.set_state(WorkerStatus.IDLE)
