"""/metrics for Prometheus: request latency by route, and the engine's figures read from the
database when scraped (open and overdue tasks, incidents, timers due, each worker's lag,
e-mails pending, instances by status).

Off unless configured: a bearer token (PARTNERFLOW_METRICS_TOKEN) and/or the networks
allowed without one (PARTNERFLOW_METRICS_NETWORKS). Several gunicorn workers share the
latency histograms through prometheus-client's multiprocess mode (PROMETHEUS_MULTIPROC_DIR,
docs/deployment.md)."""

from __future__ import annotations

import hmac
import ipaddress
import os
import time

from flask import Blueprint, Flask, Response, abort, current_app, g, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily

from partnerflow.engine.runtime import metrics

from .current import engine

bp = Blueprint("metrics", __name__)

REQUESTS = Histogram("partnerflow_http_request_duration_seconds",
                     "Time to answer a request, by route, method and status.",
                     ("route", "method", "status"),
                     buckets=(.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10),
                     registry=None)  # registered with each scrape's own registry


class EngineFigures:
    """Read at each scrape: what the database says now."""

    def __init__(self, pf):
        self.pf = pf

    def collect(self):
        with self.pf.read() as session:
            f = metrics.figures(session, self.pf.clock())
        for name, text, value in (
                ("partnerflow_tasks_open", "Open user tasks.", f.open_tasks),
                ("partnerflow_tasks_overdue", "Open user tasks past their due date.", f.overdue_tasks),
                ("partnerflow_incidents_open", "Instances stopped on an incident.", f.open_incidents),
                ("partnerflow_timers_due", "Timers due and not fired yet (the worker's backlog).",
                 f.timers_due),
                ("partnerflow_tasks_unannounced",
                 "New tasks whose people the worker has not told yet (the worker's backlog).",
                 f.tasks_unannounced),
                ("partnerflow_emails_pending", "Notifications waiting to be e-mailed.",
                 f.emails_pending)):
            yield GaugeMetricFamily(name, text, value=value)
        instances = GaugeMetricFamily("partnerflow_instances", "Process instances by status.",
                                      labels=("status",))
        for status, count in sorted(f.instances.items()):
            instances.add_metric((status,), count)
        yield instances
        lag = GaugeMetricFamily("partnerflow_worker_seconds_since_round",
                                "Seconds since each worker finished a round.", labels=("worker",))
        took = GaugeMetricFamily("partnerflow_worker_round_seconds",
                                 "How long each worker's last round took.", labels=("worker",))
        for worker, (since, duration) in sorted(f.workers.items()):
            lag.add_metric((worker,), since)
            took.add_metric((worker,), duration)
        yield lag
        yield took


def _allowed() -> bool:
    settings = engine().settings
    token = settings.metrics_token
    given = request.headers.get("Authorization", "")
    if token and given.startswith("Bearer ") and hmac.compare_digest(
            given[7:].strip().encode(), token.encode()):
        return True
    try:
        address = ipaddress.ip_address(request.remote_addr or "")
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(n, strict=False) for n in settings.metrics_networks)


@bp.get("/metrics")
def scrape():
    settings = engine().settings
    if not settings.metrics_token and not settings.metrics_networks:
        abort(404)
    if not _allowed():
        return Response("metrics: a valid bearer token or an allowed address is needed\n", 401,
                        {"WWW-Authenticate": 'Bearer realm="metrics"'}, mimetype="text/plain")
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(REQUESTS)
    registry.register(EngineFigures(current_app.extensions["partnerflow"]))
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)


def install(app: Flask) -> None:
    """Time every request by its route (the URL rule, never the URL with its ids)."""
    for network in engine_settings(app).metrics_networks:
        ipaddress.ip_network(network, strict=False)  # a typo fails at start, not at scrape

    @app.before_request
    def start_timer():
        g.metrics_started = time.perf_counter()

    @app.after_request
    def observe(response):
        started = g.pop("metrics_started", None)
        if started is not None:
            route = request.url_rule.rule if request.url_rule is not None else "(unmatched)"
            REQUESTS.labels(route, request.method, str(response.status_code)).observe(
                time.perf_counter() - started)
        return response

    app.register_blueprint(bp)


def engine_settings(app: Flask):
    return app.extensions["partnerflow"].settings
