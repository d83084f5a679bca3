"""The sync from Kore: keeps every case of each configured stream in step with Kore.ai, and
brings in the cases made elsewhere (Kore publishes no webhooks for cases: getCases is the only
way to know). See docs/sync.md.

``passes`` (what one pass reads), ``vanished`` (open cases Kore stops listing as unresolved:
closed meanwhile, or flagged missing), ``apply`` (Kore's answers onto the records: never backwards,
empty is missing, one Kore case one record), ``learn`` (statuses, priorities, assignees),
``lease`` (one pass per account at a time), ``runs`` (due streams, outcomes, the full re-read),
``refresh`` (one case now, from its page), ``tasks`` (Celery).

Imports delivery (pacing), models and kore.
"""
