"""The background worker: due timers, overdue tasks, scheduled reminders, e-mails, digests.

Every unit of work is a short transaction of its own: one instance per timer firing, one
e-mail per delivery. A worker killed at any moment loses nothing and duplicates nothing:
the transaction in flight rolls back and the row is still due for the next worker (an
e-mail handed to the SMTP server just before the kill may be sent again: at-least-once).

PostgreSQL: run as many workers as you like; they claim due instances and e-mails with
SELECT ... FOR UPDATE SKIP LOCKED and re-check the claimed row under its lock.
SQLite: has no SKIP LOCKED; every write transaction starts with BEGIN IMMEDIATE, which
serialises writers, so several workers are safe but pointless (they take turns). Run one.

SIGTERM or SIGINT asks the worker to stop: it finishes the instance it is firing, then
`run()` returns (the command exits 0).
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from dataclasses import dataclass, fields

from . import notifications, reminders, services
from .bootstrap import Partnerflow
from .models import ProcessInstance

log = logging.getLogger("partnerflow.worker")

POISON_BACKOFF_S = 300.0


@dataclass
class RoundReport:
    """What one round did."""

    timers: int = 0
    timer_failures: int = 0
    overdue: int = 0
    reminders: int = 0
    emails: int = 0
    digests: int = 0

    @property
    def busy(self) -> bool:
        return any(getattr(self, f.name) for f in fields(self))


class Worker:
    """Runs rounds until asked to stop; each step of a round is guarded on its own."""

    def __init__(self, pf: Partnerflow, *, mailer: notifications.Mailer | None = None,
                 timer_batch: int = 500, mail_batch: int = 200,
                 stop: threading.Event | None = None):
        self.pf = pf
        self.mailer = mailer if mailer is not None else notifications.mailer_for(pf.settings)
        self.timer_batch = timer_batch
        self.mail_batch = mail_batch
        self.stop = stop or threading.Event()
        self._failed: dict[int, float] = {}  # instance id -> monotonic time of its failure

    # ------------------------------------------------------------ lifecycle

    def install_signal_handlers(self) -> None:
        """SIGTERM and SIGINT finish the current instance, then stop the loop."""
        def ask_to_stop(signum, _frame) -> None:
            log.info("signal %s received: stopping after the current instance", signum)
            self.stop.set()

        signal.signal(signal.SIGTERM, ask_to_stop)
        signal.signal(signal.SIGINT, ask_to_stop)

    def run(self, *, interval_s: float = 5.0, once: bool = False) -> None:
        log.info("worker started (database %s)", self.pf.db.dialect.name)
        while not self.stop.is_set():
            report = self.run_round()
            if report.busy:
                log.info("round: %s", _describe(report), extra={"fired": report.timers})
            if once:
                break
            # a full batch means more may be due: go again at once
            if report.timers < self.timer_batch and report.emails < self.mail_batch:
                self.stop.wait(interval_s)
        log.info("worker stopped")

    def run_round(self) -> RoundReport:
        report = RoundReport()
        self._fire_timers(report)
        if self.stop.is_set():
            return report
        report.overdue = self._guarded("overdue", 0, self._flag_overdue)
        report.reminders = self._guarded("reminders", 0, self._start_reminders)
        if self.mailer is not None:
            report.emails = self._guarded("e-mails", 0, self._deliver_emails)
            report.digests = self._guarded("digests", 0, self._send_digests)
        return report

    # ------------------------------------------------------------ steps

    def _skipped(self) -> frozenset[int]:
        now = time.monotonic()
        self._failed = {i: t for i, t in self._failed.items() if now - t < POISON_BACKOFF_S}
        return frozenset(self._failed)

    def _fire_timers(self, report: RoundReport) -> None:
        while report.timers < self.timer_batch and not self.stop.is_set():
            claimed: list[int] = []
            began = time.perf_counter()
            try:
                with self.pf.uow() as uow:
                    fired = services.fire_next_due_timer(uow, skip=self._skipped(), claimed=claimed)
            except Exception as exc:  # noqa: BLE001 - one instance must not stop the others
                report.timer_failures += 1
                instance_id = claimed[-1] if claimed else None
                if instance_id is None:
                    log.exception("claiming a due timer failed")
                    return
                self._failed[instance_id] = time.monotonic()
                log.error("firing the timer of instance %s failed: %s", instance_id, exc,
                          extra={"instance_id": instance_id, "error": str(exc)[:500]}, exc_info=True)
                continue
            if fired is None:
                return
            report.timers += 1
            self._log_fired(fired, began)

    def _log_fired(self, instance_id: int, began: float) -> None:
        with self.pf.read() as session:
            row = session.get(ProcessInstance, instance_id)
            partnership_id, status = (row.partnership_id, row.status) if row else (None, None)
        log.info("timer fired on instance %s (now %s)", instance_id, status,
                 extra={"instance_id": instance_id, "partnership_id": partnership_id,
                        "duration_ms": round((time.perf_counter() - began) * 1000, 1)})

    def _flag_overdue(self) -> int:
        with self.pf.uow() as uow:
            return notifications.flag_overdue(uow)

    def _start_reminders(self) -> int:
        with self.pf.uow() as uow:
            started = reminders.start_all(uow)
            uow.commit()
        return started

    def _deliver_emails(self) -> int:
        sent = 0
        while sent < self.mail_batch and not self.stop.is_set():
            with self.pf.uow() as uow:
                if not notifications.deliver_next(uow, self.mailer):
                    break
            sent += 1
        return sent

    def _send_digests(self) -> int:
        with self.pf.read() as session:
            users = notifications.digest_recipients(session, self.pf.clock(),
                                                    self.pf.settings.digest_hour_utc)
        mailed = 0
        for username in users:
            if self.stop.is_set():
                break
            with self.pf.uow() as uow:
                mailed += notifications.send_digest(uow, self.mailer, username)
        return mailed

    def _guarded(self, what: str, default: int, fn) -> int:
        try:
            return fn()
        except Exception as exc:  # noqa: BLE001 - the worker keeps running; the next round retries
            log.exception("worker step '%s' failed", what, extra={"error": str(exc)[:500]})
            return default


def _describe(report: RoundReport) -> str:
    return ", ".join(f"{f.name}={getattr(report, f.name)}" for f in fields(report)
                     if getattr(report, f.name))
