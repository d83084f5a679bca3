"""The REST API: the drop-in Kore proxy (``proxy``: Kore's own paths, bodies, headers and
answers), the read API (``read``), API-client authentication (``auth``: Kore-style JWTs) and
throttling (``throttle``), API clients and their secrets (``clients``), Kore's error form on
every refusal (``errors``, ``error_form``), and the per-process configuration cache the proxy
reads (``config_cache``).

Imports delivery, browse, people, models and kore; never the web pages.
"""
