"""The HTML pages, thin: forms validate, services act, querysets read; post/redirect/get
throughout. One module per area (``cases``, ``browsing``, ``configuration``, ``deliveries``,
``users``, ``api_clients``, ``audit``), their forms beside them; the site's middleware, request
log, health checks and error-report filter.

Imports delivery, browse, people, api.clients, models and kore.
"""
