"""Single sign-on with OpenID Connect (issue 17).

Owns: the sign-in and sign-out pages (local form, "Sign in with <provider>", the superusers'
break-glass form under ``OIDC_ONLY``), the conversation with the identity provider (discovery,
authorization code flow with PKCE, state and nonce, ID token checks, the person's claims from
userinfo when the ID token lacks them, RP-initiated logout), and turning those verified claims
into a portal user (just-in-time creation, linking, roles and streams from the groups claim).

- ``config``: the ``OIDC_*`` settings, read and checked (the role map's shape).
- ``provider``: the one door to the identity provider. Only it speaks HTTP to the provider,
  through Authlib and the outbound host guard (``OIDC_ALLOWED_HOSTS``); it raises
  ``SignInFailed`` for every way a sign-in can go wrong.
- ``provisioning``: from verified claims to a user, in one transaction, no HTTP.
- ``views`` and ``urls``: thin pages over the two.

May import: Django, Authlib/joserfc, ``cases.models``, ``cases.people`` (roles, audit),
``cases.kore.hostguard``. Nothing else imports this package but the URLs and ``cases/apps.py``
(for the role map's startup check).
"""
