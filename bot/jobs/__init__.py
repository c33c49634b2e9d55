"""The durable photo jobs: every accepted photo is answered once, in order, despite crashes.

Every accepted photo is a row in ``jobs`` (``Storage.enqueue_job``) before any
work starts. The package splits the work by role:

====================  ==========================================================================
``dispatch.py``       :class:`JobWorker`: claims due jobs (the storage layer hands out only a
                      user's oldest pending job, and never two of one user at once, so each
                      user's photos are answered in order while different users run
                      concurrently), bounds the concurrency, recovers dead workers' jobs, stops
``photo.py``          one photo: download from Telegram, check the bytes, ask the inference
                      service; returns an :data:`~bot.jobs.outcome.Outcome`, sends nothing
``album.py``          an album (media group): its photos analysed in turn, one picture and
                      one caption for all of them (:class:`AlbumJob`)
``progress.py``       while a photo is analysed: the chat action and the "분석 중" notice
``outcome.py``        the outcome values: :class:`Answer`, :class:`AlbumAnswer`, :class:`Reply`,
                      :class:`Retry`
``apply.py``          :class:`OutcomeApplier`, the one place an outcome takes effect: it sends
                      the reply and records answered / finished / rescheduled
``retry.py``          :class:`RetryPolicy`, the backoff
====================  ==========================================================================

* Retries: a retryable failure (service down, slow, 5xx, 503, 429; Telegram
  network errors) puts the job back with exponential backoff
  (:class:`RetryPolicy`: ``base * 2**(n-1)``, capped, with jitter); the user is
  told once that the answer is delayed; after ``max_attempts`` failures the
  job is finished as failed and the user is told so.
* Crash safety: ``recover_running_jobs`` at start-up puts jobs of a dead
  process back in the queue. With several replicas on one database
  (``Storage.recovery_is_replica_safe``: PostgreSQL, where recovery only takes
  the jobs of replicas that are gone) the dispatcher also calls it every
  :data:`RECOVERY_INTERVAL_SECONDS`, so the jobs of a replica that died are
  taken over by the live ones without waiting for a restart.
* Exactly once: a job whose reply was recorded (``answered``) is never
  answered again; the reply is recorded right after it is sent. A re-delivered
  update maps to the same dedupe key and never becomes a second job.
* /delete during analysis: the job row is gone, ``add_result`` answers None,
  and the job is dropped quietly.
"""
from __future__ import annotations

from .dispatch import RECOVERY_INTERVAL_SECONDS, JobWorker
from .outcome import Answer, Outcome, Reply, Retry
from .photo import sniff_image
from .retry import RetryPolicy

__all__ = [
    "RECOVERY_INTERVAL_SECONDS",
    "Answer",
    "JobWorker",
    "Outcome",
    "Reply",
    "Retry",
    "RetryPolicy",
    "sniff_image",
]
