"""The wire shapes of ``operators.payloads`` and the suggestion engine, for the schema."""

from __future__ import annotations

from drf_spectacular.utils import inline_serializer
from rest_framework import serializers

from chats.outputs import UserBriefOutput, page_of
from operators.models import Availability


class OperatorOutput(serializers.Serializer):
    id = serializers.IntegerField()
    user = UserBriefOutput()
    availability = serializers.ChoiceField(choices=Availability.choices)
    capacity = serializers.IntegerField(min_value=0)
    open_chats = serializers.IntegerField(allow_null=True, min_value=0)
    pending_chats = serializers.IntegerField(allow_null=True, min_value=0)
    last_assigned_at = serializers.DateTimeField(allow_null=True)


class CannedResponseOutput(serializers.Serializer):
    id = serializers.IntegerField()
    shortcut = serializers.CharField()
    text = serializers.CharField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class SuggestionOutput(serializers.Serializer):
    text = serializers.CharField(allow_blank=True)
    source = serializers.ChoiceField(choices=["canned", "history", "ai"])
    score = serializers.FloatField()
    canned_response_id = serializers.IntegerField(allow_null=True)


class MedianOutput(serializers.Serializer):
    median_seconds = serializers.FloatField(allow_null=True)
    count = serializers.IntegerField(min_value=0)


class StatsOutput(serializers.Serializer):
    period = inline_serializer(
        "StatsPeriod", {"from": serializers.DateTimeField(), "to": serializers.DateTimeField()}
    )
    open = serializers.IntegerField(min_value=0)
    pending = serializers.IntegerField(min_value=0)
    closed = serializers.IntegerField(min_value=0)
    unassigned = serializers.IntegerField(min_value=0)
    created = serializers.IntegerField(min_value=0)
    operators = OperatorOutput(many=True)
    first_response = MedianOutput()
    resolution = MedianOutput()


OperatorPage = page_of("OperatorPage", OperatorOutput(many=True))
CannedResponsePage = page_of("CannedResponsePage", CannedResponseOutput(many=True))
Suggestions = inline_serializer(
    "Suggestions",
    {
        "engine": serializers.ChoiceField(choices=["ai", "local"]),
        "suggestions": SuggestionOutput(many=True),
    },
)
AiHealth = inline_serializer(
    "AiHealth",
    {
        "provider": serializers.ChoiceField(choices=["local", "openai_compatible"]),
        "status": serializers.ChoiceField(choices=["ok", "down"]),
        "base_url": serializers.CharField(required=False),
        "detail": serializers.CharField(required=False),
    },
)
