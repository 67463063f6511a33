"""Auth and user API: register, login, tokens, profile, staff management."""

from __future__ import annotations

from django.conf import settings
from django.http import FileResponse
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError
from rest_framework_simplejwt.serializers import TokenRefreshSerializer
from rest_framework_simplejwt.tokens import RefreshToken

from accounts import error_codes, selectors, services
from accounts.avatars import avatar_mime, avatar_url
from accounts.models import Role, User
from crm import ws_auth
from crm.client_ip import request_ip
from crm.errors import NotFound
from crm.i18n import activate_for
from crm.pagination import PageNumberPagination
from crm.permissions import IsOrgAdmin, IsStaff
from crm.ratelimit import RegisterThrottle
from crm.tenancy import OrganizationMixin


class UserOutput(serializers.ModelSerializer):
    avatar = serializers.SerializerMethodField()
    organization = serializers.SlugRelatedField(slug_field="slug", read_only=True)

    class Meta:
        model = User
        fields = [
            "id",
            "email",
            "name",
            "avatar",
            "role",
            "organization",
            "is_online",
            "last_seen_at",
            "is_active",
            "language",
        ]

    def get_avatar(self, user: User) -> str | None:
        return avatar_url(user)


class PublicUserOutput(UserOutput):
    """What a customer sees of staff: no email, no account state."""

    class Meta(UserOutput.Meta):
        fields = ["id", "name", "avatar", "role", "is_online", "last_seen_at"]


class VisibleUserOutput(serializers.Serializer):
    """A user as the viewer may see them: staff and the user themselves get every field of
    ``UserOutput``; a customer looking at staff gets the public ones only."""

    id = serializers.IntegerField()
    name = serializers.CharField(allow_blank=True)
    avatar = serializers.CharField(allow_null=True)
    role = serializers.ChoiceField(choices=Role.choices)
    is_online = serializers.BooleanField()
    last_seen_at = serializers.DateTimeField(allow_null=True)
    email = serializers.EmailField(required=False, allow_null=True)
    organization = serializers.CharField(required=False)
    is_active = serializers.BooleanField(required=False)
    language = serializers.ChoiceField(
        choices=[("", ""), *settings.LANGUAGES], required=False, allow_blank=True
    )


AuthOutput = inline_serializer(
    "AuthTokens",
    {"user": UserOutput(), "access": serializers.CharField(), "refresh": serializers.CharField()},
)


def user_payload(user: User, *, viewer: User | None = None) -> dict:
    if viewer is not None and not viewer.is_staff and viewer.pk != user.pk:
        return PublicUserOutput(user).data
    return UserOutput(user).data


class PublicEndpoint(APIView):
    """No authentication needed; credential failures still answer 401 with a challenge."""

    permission_classes = [AllowAny]
    authentication_classes: list = []

    def get_authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'


def _client_ip(request: Request) -> str:
    return request_ip(request)


class RegisterApi(PublicEndpoint):
    throttle_classes = [RegisterThrottle]

    class Input(serializers.Serializer):
        email = serializers.EmailField()
        password = serializers.CharField(write_only=True, max_length=128)
        name = serializers.CharField(max_length=150, allow_blank=True, default="")
        organization = serializers.SlugField(required=False, allow_blank=True)

    @extend_schema(request=Input, responses={201: AuthOutput}, auth=[])
    def post(self, request: Request) -> Response:
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        slug = data.validated_data.get("organization") or settings.DEFAULT_ORGANIZATION
        if slug == settings.DEFAULT_ORGANIZATION:
            organization = services.organization_default()
        else:
            organization = selectors.organization_by_slug(slug)
        user = services.customer_register(
            organization=organization,
            email=data.validated_data["email"],
            password=data.validated_data["password"],
            name=data.validated_data["name"],
        )
        return Response(
            {"user": user_payload(user), **services.tokens_for(user)},
            status=status.HTTP_201_CREATED,
        )


class LoginApi(PublicEndpoint):
    class Input(serializers.Serializer):
        email = serializers.CharField(max_length=254)
        password = serializers.CharField(max_length=128, write_only=True)
        # Only needed when the same email and password exist in two organizations.
        organization = serializers.SlugField(max_length=64, required=False)

    @extend_schema(request=Input, responses={200: AuthOutput}, auth=[])
    def post(self, request: Request) -> Response:
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        user = services.auth_login(
            email=data.validated_data["email"],
            password=data.validated_data["password"],
            ip=_client_ip(request),
            organization=data.validated_data.get("organization"),
        )
        return Response({"user": user_payload(user), **services.tokens_for(user)})


class RefreshApi(PublicEndpoint):
    """Rotates the refresh token; the old one is blacklisted and refused from then on."""

    @extend_schema(request=TokenRefreshSerializer, responses={200: TokenRefreshSerializer}, auth=[])
    def post(self, request: Request) -> Response:
        serializer = TokenRefreshSerializer(data=request.data)
        try:
            serializer.is_valid(raise_exception=True)
        except TokenError as exc:
            raise InvalidToken(exc.args[0]) from exc
        except User.DoesNotExist:
            raise InvalidToken(_("The token's user no longer exists.")) from None
        return Response(serializer.validated_data)


class LogoutApi(PublicEndpoint):
    class Input(serializers.Serializer):
        refresh = serializers.CharField()

    @extend_schema(request=Input, responses={205: None}, auth=[])
    def post(self, request: Request) -> Response:
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            RefreshToken(data.validated_data["refresh"]).blacklist()
        except TokenError as exc:
            raise InvalidToken(exc.args[0]) from exc
        return Response(status=status.HTTP_205_RESET_CONTENT)


class WsTicketApi(APIView):
    """A single-use ticket that opens the WebSocket (``/ws/?ticket=…``) within 30 seconds."""

    @extend_schema(
        request=None,
        responses=inline_serializer(
            "WsTicket",
            {"ticket": serializers.CharField(), "expires_in": serializers.IntegerField()},
        ),
    )
    def post(self, request: Request) -> Response:
        return Response(ws_auth.ticket_issue(user=request.user))


class MeApi(APIView):
    class Input(serializers.Serializer):
        name = serializers.CharField(max_length=150, required=False, allow_blank=True)
        # Checked by the media pipeline (type by content, size, pixels), not by the field.
        avatar = serializers.FileField(required=False)
        old_password = serializers.CharField(required=False, write_only=True, max_length=128)
        new_password = serializers.CharField(required=False, write_only=True, max_length=128)
        # "" = not chosen: the browser's language, else the organization's.
        language = serializers.ChoiceField(
            choices=settings.LANGUAGES, required=False, allow_blank=True
        )

    @extend_schema(responses=UserOutput)
    def get(self, request: Request) -> Response:
        return Response(user_payload(request.user))

    @extend_schema(request=Input, responses=UserOutput)
    def patch(self, request: Request) -> Response:
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        user = services.profile_update(user=request.user, **data.validated_data)
        if "language" in data.validated_data:
            activate_for(request._request, user)  # the answer already speaks the new language
        return Response(user_payload(user))


class VerifyApi(APIView):
    @extend_schema(responses=inline_serializer("Verify", {"user": UserOutput()}))
    def get(self, request: Request) -> Response:
        return Response({"user": user_payload(request.user)})


class UserSearchApi(OrganizationMixin, APIView):
    permission_classes = [IsStaff]

    class Query(serializers.Serializer):
        q = serializers.CharField(required=False, allow_blank=True, max_length=200, default="")

    @extend_schema(
        operation_id="users_search",
        parameters=[Query],
        responses=inline_serializer("UserSearchResults", {"results": UserOutput(many=True)}),
    )
    def get(self, request: Request) -> Response:
        query = self.Query(data=request.query_params)
        query.is_valid(raise_exception=True)
        users = selectors.user_search(
            organization=self.organization, query=query.validated_data["q"]
        )
        return Response({"results": UserOutput(users, many=True).data})


class UserListApi(OrganizationMixin, APIView):
    """An admin lists and adds the organization's staff."""

    permission_classes = [IsOrgAdmin]

    class Input(serializers.Serializer):
        email = serializers.EmailField()
        name = serializers.CharField(max_length=150, allow_blank=True, default="")
        role = serializers.ChoiceField(choices=[Role.ADMIN, Role.SENIOR_OPERATOR, Role.OPERATOR])
        password = serializers.CharField(max_length=128, write_only=True)

    class Query(serializers.Serializer):
        role = serializers.ChoiceField(
            choices=[Role.ADMIN, Role.SENIOR_OPERATOR, Role.OPERATOR], required=False
        )

    @extend_schema(
        operation_id="users_list",
        parameters=[Query],
        responses=inline_serializer(
            "UserPage",
            {
                "count": serializers.IntegerField(min_value=0),
                "next": serializers.CharField(allow_null=True),
                "previous": serializers.CharField(allow_null=True),
                "results": UserOutput(many=True),
            },
        ),
    )
    def get(self, request: Request) -> Response:
        query = self.Query(data=request.query_params)
        query.is_valid(raise_exception=True)
        users = selectors.staff_of(organization=self.organization).order_by("name", "id")
        role = query.validated_data.get("role")
        if role:
            users = users.filter(role=role)
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(users, request, view=self)
        return paginator.get_paginated_response(UserOutput(page, many=True).data)

    @extend_schema(request=Input, responses={201: UserOutput})
    def post(self, request: Request) -> Response:
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        user = services.staff_user_create(actor=request.user, **data.validated_data)
        return Response(user_payload(user), status=status.HTTP_201_CREATED)


class UserDetailApi(APIView):
    class Input(serializers.Serializer):
        role = serializers.ChoiceField(choices=Role.choices, required=False)
        is_active = serializers.BooleanField(required=False)
        name = serializers.CharField(max_length=150, required=False, allow_blank=True)

    @extend_schema(responses=VisibleUserOutput)
    def get(self, request: Request, user_id: int) -> Response:
        user = selectors.user_visible_to(viewer=request.user, user_id=user_id)
        return Response(user_payload(user, viewer=request.user))

    @extend_schema(request=Input, responses=UserOutput)
    def patch(self, request: Request, user_id: int) -> Response:
        user = selectors.user_visible_to(viewer=request.user, user_id=user_id)
        if not request.user.is_org_admin:
            return Response(
                {"detail": IsOrgAdmin.message, "code": error_codes.PERMISSION_DENIED},
                status=status.HTTP_403_FORBIDDEN,
            )
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        user = services.user_update(actor=request.user, user=user, **data.validated_data)
        return Response(user_payload(user))


class UserAvatarApi(APIView):
    """The avatar of a user the caller may see (the same rule as ``GET /api/users/<id>``)."""

    @extend_schema(responses={(200, "image/*"): OpenApiTypes.BINARY})
    def get(self, request: Request, user_id: int) -> FileResponse:
        user = selectors.user_visible_to(viewer=request.user, user_id=user_id)
        if not user.avatar:
            raise NotFound(_("This user has no avatar."), code=error_codes.NO_AVATAR)
        try:
            handle = user.avatar.open("rb")
        except FileNotFoundError:
            raise NotFound(_("The avatar's file is missing."), code=error_codes.NO_AVATAR) from None
        response = FileResponse(handle, content_type=avatar_mime(user))
        response["X-Content-Type-Options"] = "nosniff"
        response["Content-Security-Policy"] = "default-src 'none'; sandbox"
        response["Cache-Control"] = "private, max-age=86400"
        return response
