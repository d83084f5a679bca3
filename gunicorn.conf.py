"""gunicorn settings for the Case Portal: `gunicorn -c gunicorn.conf.py casesite.wsgi`.

Threaded workers (gthread): the drop-in createCase proxy and "Test connection" wait on Kore.ai
for up to KORE_READ_TIMEOUT seconds, and a sync worker would serve nobody else meanwhile.
Every value comes from the environment, with defaults for a small server.
"""

from __future__ import annotations

import multiprocessing
import os


def _int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    return int(value) if value.strip() else default


bind = f"{os.environ.get('HOST', '0.0.0.0')}:{_int('PORT', 8000)}"  # noqa: S104 - behind the reverse proxy
worker_class = "gthread"
# Processes: 2 × cores + 1 is gunicorn's rule of thumb, capped because each thread already
# waits on Kore concurrently; scale past that with more hosts (docs/deploy.md).
workers = _int("WEB_CONCURRENCY", min(2 * multiprocessing.cpu_count() + 1, 4))
threads = _int("GUNICORN_THREADS", 8)
# Longer than any wait on Kore (connect + read timeouts), so a slow Kore never kills a worker.
timeout = _int("GUNICORN_TIMEOUT", 60)
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 30)
keepalive = _int("GUNICORN_KEEPALIVE", 5)
# Recycle workers now and then so a slow leak can never grow without bound.
max_requests = _int("GUNICORN_MAX_REQUESTS", 2000)
max_requests_jitter = max_requests // 10
# The reverse proxy's address, whose X-Forwarded-* headers are believed.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")

errorlog = "-"
if os.environ.get("LOG_FORMAT", "plain").strip().lower() == "json":
    # The portal's request middleware already writes one JSON line per request (with the user);
    # gunicorn's own access log would only repeat it in another shape.
    accesslog = None
    logconfig_dict = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "casesite.logging.JsonFormatter"}},
        "handlers": {
            "console": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
        },
        "root": {"level": "INFO", "handlers": ["console"]},
        "loggers": {"gunicorn.error": {"level": "INFO", "handlers": ["console"], "propagate": False}},
    }
else:
    accesslog = "-"
