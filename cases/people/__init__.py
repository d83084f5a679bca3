"""People: roles (Django groups holding permissions), stream membership, the sessions people
signed in with (so "sign out everywhere" reaches them all), and the audit trail of who did what.

Imports models only.
"""
