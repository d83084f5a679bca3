"""Submission and delivery: everything between "a person, a tool or a file asks for a case" and
"Kore holds exactly one case for it, and the row says so".

page / API / import -> ``submit`` -> outbox row (``Case``, state queued) -> ``tasks`` ->
``deliver`` (pacing, claim, send) -> the Kore client -> ``outcomes`` (the row updated), with
``reconcile`` looking a case up after an answer was lost, and ``sweep`` taking back what a lost
task or a dead worker left behind. ``proxy`` is the API's deliver-and-wait workflow.

Imports models and cases.kore only; never the web pages or the API.
"""
