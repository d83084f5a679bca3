"""Error reports (the debug page, mailed reports) never show a secret, whichever view failed.

Django hides settings, headers and cookies named like secrets, but POST fields and the local
variables of each frame only where a view is decorated for it. This filter hides them
everywhere, by name (``client_secret``, ``password``, ``token``, an ``auth`` header's JWT …),
including inside dicts and lists, and also on the debug page.
"""

from __future__ import annotations

from django.views.debug import SafeExceptionReporterFilter


class PortalExceptionReporterFilter(SafeExceptionReporterFilter):
    def is_active(self, request) -> bool:
        return True

    def get_post_parameters(self, request):
        if request is None:
            return {}
        cleansed = request.POST.copy()
        for name in cleansed:
            if self.hidden_settings.search(name):
                cleansed.setlist(name, [self.cleansed_substitute])
        return cleansed

    def get_traceback_frame_variables(self, request, tb_frame):
        return [
            (name, self.cleanse_setting(name, value))
            for name, value in super().get_traceback_frame_variables(request, tb_frame)
        ]
