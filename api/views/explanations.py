"""Explanations: list and write them, their revisions (revise, revert), their scores and votes."""

from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import generics, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from explanations.models import ExplanationRevision
from explanations.services import explanations as explanation_services
from explanations.services import votes as vote_services
from scoring.models import ExplanationScore

from .. import filters, selectors, serializers
from ..pagination import NewestFirst
from .base import READ_ERRORS, consume_wiki_rate, or_404, schema_errors, validated


def _explanation_or_404(request: Request, pk: int):
    explanation = selectors.by_id(selectors.explanations_for_api(request.user), pk)
    return or_404(explanation, "There is no such explanation, or a moderator has hidden it.")


@extend_schema_view(
    get=extend_schema(summary="Explanations", responses={200: serializers.ExplanationOut(many=True), **READ_ERRORS}),
    post=extend_schema(
        summary="Write an explanation of a feature",
        request=serializers.ExplanationIn,
        responses={201: serializers.ExplanationOut, **schema_errors(400, 401, 403, 429)},
    ),
)
class ExplanationList(generics.ListAPIView):
    serializer_class = serializers.ExplanationOut
    filterset_class = filters.ExplanationFilter

    def get_queryset(self):
        return selectors.explanations_for_api(self.request.user)

    def post(self, request: Request) -> Response:
        data = validated(serializers.ExplanationIn, request.data)
        consume_wiki_rate(request, "explanation")
        explanation = explanation_services.explanation_create(
            feature=data["feature"],
            author=request.user,
            text=data["text"],
            rule_text=data["rule"],
            message=data["message"],
        )
        explanation = _explanation_or_404(request, explanation.pk)
        return Response(serializers.ExplanationOut(explanation).data, status=status.HTTP_201_CREATED)


@extend_schema(summary="An explanation", responses={200: serializers.ExplanationOut, **READ_ERRORS})
class ExplanationDetail(generics.RetrieveAPIView):
    serializer_class = serializers.ExplanationOut

    def get_object(self):
        return _explanation_or_404(self.request, self.kwargs["pk"])


@extend_schema_view(
    get=extend_schema(
        summary="An explanation's revisions, newest first",
        responses={200: serializers.RevisionOut(many=True), **READ_ERRORS},
    ),  # noqa: E501
    post=extend_schema(
        summary="Revise an explanation (a new revision)",
        request=serializers.RevisionIn,
        responses={
            201: serializers.RevisionOut,
            **schema_errors(400, 401, 403, 404, 429),
            409: OpenApiResponse(serializers.ErrorOut, description="Someone saved a revision since `base_revision`"),
        },
    ),
)
class RevisionList(generics.ListAPIView):
    serializer_class = serializers.RevisionOut
    pagination_class = NewestFirst

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return ExplanationRevision.objects.none()
        explanation = _explanation_or_404(self.request, self.kwargs["pk"])
        return ExplanationRevision.objects.filter(explanation=explanation).select_related("author")

    def post(self, request: Request, pk: int) -> Response:
        explanation = _explanation_or_404(request, pk)
        data = validated(serializers.RevisionIn, request.data)
        consume_wiki_rate(request, "explanation")
        revision = explanation_services.explanation_revise(
            explanation=explanation,
            author=request.user,
            text=data["text"],
            rule_text=data["rule"],
            message=data["message"],
            base_revision_id=data["base_revision"],
        )
        return Response(serializers.RevisionOut(revision).data, status=status.HTTP_201_CREATED)


class RevertView(APIView):
    @extend_schema(
        summary="Make an earlier revision current again (as a new revision)",
        request=serializers.RevertIn,
        responses={201: serializers.RevisionOut, **schema_errors(400, 401, 403, 404, 429)},
    )
    def post(self, request: Request, pk: int) -> Response:
        explanation = _explanation_or_404(request, pk)
        data = validated(serializers.RevertIn, request.data)
        revision = or_404(
            explanation.revisions.filter(pk=data["revision"]).first(), "That revision is not one of this explanation's."
        )
        consume_wiki_rate(request, "explanation")
        new_revision = explanation_services.explanation_revert(
            explanation=explanation, revision=revision, author=request.user, message=data["message"]
        )
        return Response(serializers.RevisionOut(new_revision).data, status=status.HTTP_201_CREATED)


@extend_schema(
    summary="Every score of an explanation, newest first",
    responses={200: serializers.ScoreOut(many=True), **READ_ERRORS},
)  # noqa: E501
class ScoreList(generics.ListAPIView):
    serializer_class = serializers.ScoreOut
    pagination_class = NewestFirst

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return ExplanationScore.objects.none()
        return _explanation_or_404(self.request, self.kwargs["pk"]).scores.all()


class VoteView(APIView):
    @extend_schema(
        summary="Vote on an explanation: up (1), down (-1) or withdraw (0)",
        request=serializers.VoteIn,
        responses={200: serializers.VoteOut, **schema_errors(400, 401, 403, 404, 429)},
    )
    def put(self, request: Request, pk: int) -> Response:
        data = validated(serializers.VoteIn, request.data)
        return self._vote(request, pk, data["value"])

    @extend_schema(
        summary="Withdraw your vote",
        request=None,
        responses={200: serializers.VoteOut, **schema_errors(401, 403, 404, 429)},
    )  # noqa: E501
    def delete(self, request: Request, pk: int) -> Response:
        return self._vote(request, pk, 0)

    def _vote(self, request: Request, pk: int, value: int) -> Response:
        explanation = _explanation_or_404(request, pk)
        consume_wiki_rate(request, "vote")
        outcome = vote_services.vote_cast(user=request.user, explanation=explanation, value=value)
        return Response(serializers.VoteOut({"score": outcome.score, "value": outcome.value}).data)
