"""Working cases from the portal: changing a case or a task at Kore (updateCase, updateTask),
adding tasks (createTask), bulk changes, and the gateway's workflows for those writes and for
the reads it passes through. See docs/gateway.md.

page / API / bulk -> ``changes`` or ``new_tasks`` (stored before sent) -> ``tasks`` (Celery) ->
``send`` / ``task_send`` (fair turn, claim, read back after a lost answer, send) -> the Kore
client -> ``settle`` (the row updated; Kore's answer applied by ``apply`` to the case, its
history and the audit trail). ``readback`` and ``conflicts`` tell a newer change at Kore from
the portal's own; ``sweep`` takes back what a dead worker left; ``gateway`` is the API's
deliver-and-wait and idempotency, and passes getCases/getTasks through.

Imports delivery (pacing, fair shares, the proxy's idempotency helpers), sync (applying Kore's
answers), people (audit), models and kore; never the web pages or the API.
"""
