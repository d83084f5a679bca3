"""factory-boy factories for the portal's models."""

from __future__ import annotations

from datetime import UTC, timedelta

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from cases.models import Case, CaseTemplate, Stream
from cases.people import roles

TEST_CLIENT_SECRET = "test-client-secret-0123456789abcdef"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ["username"]

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.com")
    password = factory.django.Password("correct horse battery staple")

    @factory.post_generation
    def role(self, create, extracted, **kwargs):
        """``UserFactory(role=roles.VIEWER)``: put the person in that role's group."""
        if extracted and create:
            roles.set_role(self, extracted)


class StreamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Stream
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Stream {n}")
    host = "https://platform.kore.ai"
    stream_id = factory.Sequence(lambda n: f"st-00000000-0000-4000-8000-{n:012d}")
    account_id = "6639f7bd58c97ffac03b0001"
    client_id = factory.Sequence(lambda n: f"cs-test-{n}")
    rate_limit = 0

    @factory.post_generation
    def secret(self, create, extracted, **kwargs):
        self.set_client_secret(extracted or TEST_CLIENT_SECRET)
        if create:
            self.save()


class CaseTemplateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CaseTemplate

    stream = factory.SubFactory(StreamFactory)
    template_id = factory.Sequence(lambda n: f"ctm-00000000-0000-4000-8000-{n:012d}")
    name = factory.Sequence(lambda n: f"Template {n}")
    default_source = "rtm"


class CaseFactory(factory.django.DjangoModelFactory):
    """A case as stored after submission (queued), with a body like Kore's sample."""

    class Meta:
        model = Case

    template = factory.SubFactory(CaseTemplateFactory)
    stream = factory.SelfAttribute("template.stream")
    name = factory.Sequence(lambda n: f"Printer on floor {n} is jammed")
    desc = "It makes a grinding noise."
    requester_email = "dummy.898@example.com"
    source = "rtm"
    due_date = factory.LazyFunction(lambda: (timezone.now() + timedelta(days=3)).replace(microsecond=0))
    request_body = factory.LazyAttribute(
        lambda case: {
            "caseTmp": case.template.template_id,
            "name": case.name,
            "desc": case.desc,
            "userInfo": {"name": "dummy"},
            "emailId": case.requester_email,
            "dueDate": case.due_date.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "source": case.source,
        }
    )
