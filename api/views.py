"""The REST API under /api/v1/. Thin views: validate the input (serializers), call a service or a selector,
serialize the output. Who may do what is the services' business (explanations.services, features.services,
features.uploads); their PermissionDenied, ValidationError and RateLimited become the API's error bodies in
api.errors."""

from django.http import HttpRequest, JsonResponse
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import generics, permissions, status
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.rate_limits import rate_limit_consume
from explanations import services as wiki
from explanations.models import Comment, ExplanationRevision, FeatureList, FeatureListItem
from features.models import LanguageModel, Source
from features.pipeline.errors import PipelineInputError
from scoring.models import ExplanationScore

from . import filters, selectors, serializers
from .pagination import NewestFirst
from .parsers import BoundedJSONParser
from .throttles import INFERENCE_THROTTLES

ERRORS = {
    400: OpenApiResponse(serializers.ErrorOut, description="Invalid input"),
    413: OpenApiResponse(serializers.ErrorOut, description="The body is over the size limit"),
    401: OpenApiResponse(serializers.ErrorOut, description="Not authenticated, or a bad API key"),
    403: OpenApiResponse(serializers.ErrorOut, description="Not allowed"),
    404: OpenApiResponse(serializers.ErrorOut, description="Not found"),
    429: OpenApiResponse(serializers.ErrorOut, description="Throttled"),
}
READ_ERRORS = {code: ERRORS[code] for code in (400, 401, 404, 429)}


def _errors(*codes: int) -> dict:
    """Error responses for the schema; an endpoint that reads a body (400) may also refuse its size (413)."""
    return {code: ERRORS[code] for code in (*codes, 413) if code in codes or (code == 413 and 400 in codes)}


def _consume(request: Request, action: str) -> None:
    """The wiki's own rate limit for this kind of write (WIKI_RATE_LIMITS), as on the web pages."""
    rate_limit_consume(action=action, key=str(request.user.pk))


def _or_404(row, message: str):
    if row is None:
        raise NotFound(message)
    return row


def ping(request: HttpRequest) -> JsonResponse:
    """The smallest Django view: the floor that bench/api.py measures the API against."""
    return JsonResponse({"ok": True})


class MeView(APIView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(responses={200: serializers.MeOut, **_errors(401, 429)}, summary="Who the request is from")
    def get(self, request: Request) -> Response:
        method = "api-key" if request.auth == "api-key" else "session"
        data = {"username": request.user.username, "is_staff": request.user.is_staff, "authenticated_by": method}
        return Response(serializers.MeOut(data).data)


# --- Models and sources ----------------------------------------------------------------------------


def _check_upload_permission(request: Request, *, server_path: bool) -> None:
    if server_path and not request.user.is_staff:
        raise PermissionDenied("Only staff can register files already on the server; upload the files instead.")


class UploadLimitMixin:
    """Counts uploaded bytes as they arrive and skips files past the limit (features.uploads), so an oversized
    upload never fills the disk. The handler must be in place before DRF reads the body."""

    upload_limit_setting = "NEURONPEDIA_MAX_UPLOAD_BYTES"

    def initialize_request(self, request: HttpRequest, *args, **kwargs):
        if request.method == "POST":
            from django.conf import settings

            from features.uploads import UploadLimitHandler

            handler = UploadLimitHandler(request, getattr(settings, self.upload_limit_setting))
            request.upload_handlers.insert(0, handler)
            request.upload_limit = handler
        return super().initialize_request(request, *args, **kwargs)

    def _uploaded(self, request: Request, serializer_class) -> dict:
        """The request's validated fields, or 413 when files went over the limit (they were not stored)."""
        data = request.data  # parsing the body runs the upload handlers
        handler = getattr(request._request, "upload_limit", None)
        if handler is not None and handler.skipped:
            from .errors import PayloadTooLarge

            raise PayloadTooLarge(f"The upload is over the size limit ({', '.join(handler.skipped)} went over it).")
        return _valid(serializer_class, data)


@extend_schema_view(
    get=extend_schema(summary="Models", responses={200: serializers.ModelOut(many=True), **READ_ERRORS}),
    post=extend_schema(
        summary="Upload a model checkpoint",
        request={"multipart/form-data": serializers.ModelUploadIn, "application/json": serializers.ModelUploadIn},
        responses={201: serializers.ModelOut, **_errors(400, 401, 403, 429)},
    ),
)
class ModelList(UploadLimitMixin, generics.ListAPIView):
    serializer_class = serializers.ModelOut
    queryset = LanguageModel.objects.all()
    pagination_class = None  # a handful of models

    def post(self, request: Request) -> Response:
        from features import uploads

        data = self._uploaded(request, serializers.ModelUploadIn)
        _check_upload_permission(request, server_path="path" in data)
        wiki.ensure_can_write(request.user)
        details = {"display_name": data["display_name"], "description": data["description"]}
        try:
            if "path" in data:
                model = uploads.model_register_directory(
                    slug=data["slug"], path=data["path"], created_by=request.user, **details
                )
            else:
                model = uploads.model_upload(slug=data["slug"], files=data["files"], created_by=request.user, **details)
        except PipelineInputError as error:
            raise ValidationError({"non_field_errors": [str(error)]}) from error
        except OSError as error:  # a server path the file system refuses (too long, unreadable)
            raise ValidationError({"path": [f"That path cannot be read: {error.strerror or error}."]}) from error
        return Response(serializers.ModelOut(model).data, status=status.HTTP_201_CREATED)


@extend_schema(summary="A model", responses={200: serializers.ModelOut, **READ_ERRORS})
class ModelDetail(generics.RetrieveAPIView):
    serializer_class = serializers.ModelOut
    queryset = LanguageModel.objects.all()
    lookup_field = "slug"
    lookup_url_kwarg = "model_slug"


@extend_schema_view(
    get=extend_schema(
        summary="Sources (neurons of a layer, or dictionaries)",
        responses={200: serializers.SourceOut(many=True), **READ_ERRORS},
    ),  # noqa: E501
    post=extend_schema(
        summary="Upload a dictionary (SAELens format) as a new source",
        request={
            "multipart/form-data": serializers.DictionaryUploadIn,
            "application/json": serializers.DictionaryUploadIn,
        },
        responses={201: serializers.SourceOut, **_errors(400, 401, 403, 429)},
    ),
)
class SourceList(UploadLimitMixin, generics.ListAPIView):
    serializer_class = serializers.SourceOut
    queryset = Source.objects.select_related("model")
    filterset_class = filters.SourceFilter
    upload_limit_setting = "NEURONPEDIA_MAX_DICTIONARY_BYTES"

    def post(self, request: Request) -> Response:
        from features import uploads
        from features.services.registration import dictionary_register

        data = self._uploaded(request, serializers.DictionaryUploadIn)
        _check_upload_permission(request, server_path="path" in data)
        wiki.ensure_can_write(request.user)
        model = data["model"]
        try:
            if "path" in data:
                if Source.objects.filter(model=model, slug=data["slug"]).exists():
                    taken = data["slug"]
                    raise PipelineInputError(f"{model.slug} already has a source {taken!r}; choose another name.")
                source = dictionary_register(
                    model=model, path=data["path"], slug=data["slug"], hook_name=data["hook_name"]
                )
            else:
                source = uploads.dictionary_upload(
                    model=model,
                    slug=data["slug"],
                    config=data["config"],
                    weights=data["weights"],
                    hook_name=data["hook_name"],
                )
        except PipelineInputError as error:
            raise ValidationError({"non_field_errors": [str(error)]}) from error
        except OSError as error:  # a server path the file system refuses (too long, unreadable)
            raise ValidationError({"path": [f"That path cannot be read: {error.strerror or error}."]}) from error
        return Response(serializers.SourceOut(source).data, status=status.HTTP_201_CREATED)


@extend_schema(summary="A source, by model and source slug", responses={200: serializers.SourceOut, **READ_ERRORS})
class SourceDetail(generics.RetrieveAPIView):
    serializer_class = serializers.SourceOut

    def get_object(self) -> Source:
        source = selectors.source_by_address(self.kwargs["model_slug"], self.kwargs["source_slug"])
        return _or_404(source, f"There is no source {self.kwargs['model_slug']}/{self.kwargs['source_slug']}.")


# --- Features and their examples ----------------------------------------------------------------


@extend_schema(summary="Features", responses={200: serializers.FeatureOut(many=True), **READ_ERRORS})
class FeatureIndex(generics.ListAPIView):
    serializer_class = serializers.FeatureOut
    queryset = selectors.features_for_list()
    filterset_class = filters.FeatureFilter


class FeatureDetail(APIView):
    """The most requested endpoint: built from .values() as plain data (selectors.feature_dashboard), in the shape
    FeatureDetailOut documents, rather than through model instances and serializer fields."""

    @extend_schema(summary="A feature with its dashboard", responses={200: serializers.FeatureDetailOut, **READ_ERRORS})
    def get(self, request: Request, pk: int) -> Response:
        feature = selectors.feature_dashboard(request.user, pk=pk)
        return Response(_or_404(feature, f"There is no feature with id {pk}."))


class FeatureByAddress(APIView):
    @extend_schema(
        operation_id="features_by_address_retrieve",
        summary="A feature with its dashboard, by model, source and index",
        responses={200: serializers.FeatureDetailOut, **READ_ERRORS},
    )
    def get(self, request: Request, model_slug: str, source_slug: str, index: int) -> Response:
        feature = selectors.feature_dashboard(request.user, address=(model_slug, source_slug, index))
        return Response(_or_404(feature, f"There is no feature {model_slug}/{source_slug}/{index}."))


@extend_schema(
    summary="Activation examples (top and interval samples)",
    responses={200: serializers.ExampleOut(many=True), **READ_ERRORS},
)  # noqa: E501
class ExampleList(generics.ListAPIView):
    serializer_class = serializers.ExampleOut
    queryset = selectors.examples_for_api()
    filterset_class = filters.ExampleFilter


@extend_schema(summary="An activation example", responses={200: serializers.ExampleOut, **READ_ERRORS})
class ExampleDetail(generics.RetrieveAPIView):
    serializer_class = serializers.ExampleOut

    def get_object(self):
        return _or_404(selectors.by_id(selectors.examples_for_api(), self.kwargs["pk"]), "There is no such example.")


# --- Live inference ------------------------------------------------------------------------------


class InferenceView(APIView):
    """Runs a model for every request: open to everyone, under the stricter inference rates."""

    permission_classes = [permissions.AllowAny]
    throttle_classes = INFERENCE_THROTTLES


class FeatureActivate(InferenceView):
    @extend_schema(
        summary="The feature's activations on a text (live)",
        request=serializers.TextIn,
        responses={200: serializers.TokenActivationsOut, **_errors(400, 401, 404, 429)},
    )
    def post(self, request: Request, pk: int) -> Response:
        from features import inference

        feature = _or_404(selectors.by_id(selectors.features_for_list(), pk), f"There is no feature with id {pk}.")
        data = _valid(serializers.TextIn, request.data)
        result = inference.feature_activations(feature, data["text"])
        return Response(serializers.TokenActivationsOut(result).data)


def _model_or_404(slug: str) -> LanguageModel:
    return _or_404(LanguageModel.objects.filter(slug=slug).first(), f"There is no model {slug}.")


def _sources_of(model: LanguageModel, slugs: list[str]) -> list[Source] | None:
    if not slugs:
        return None
    found = {source.slug: source for source in model.sources.filter(slug__in=slugs)}
    missing = [slug for slug in slugs if slug not in found]
    if missing:
        raise ValidationError({"sources": [f"{model.slug} has no source {', '.join(missing)}."]})
    return [found[slug] for slug in dict.fromkeys(slugs)]


class TopFeatures(InferenceView):
    @extend_schema(
        summary="The features that fire most on a text (live)",
        request=serializers.TopFeaturesIn,
        responses={200: serializers.TopFeaturesOut, **_errors(400, 401, 404, 429)},
    )
    def post(self, request: Request, model_slug: str) -> Response:
        from features import inference

        model = _model_or_404(model_slug)
        data = _valid(serializers.TopFeaturesIn, request.data)
        result = inference.top_features_for_text(
            model, data["text"], sources=_sources_of(model, data.get("sources") or []), k=data["k"]
        )
        return Response(serializers.TopFeaturesOut(result).data)


class Steer(InferenceView):
    parser_classes = [BoundedJSONParser]  # its features are a list of objects, which a form cannot carry

    @extend_schema(
        summary="Generate with and without features added (live)",
        request=serializers.SteerIn,
        responses={200: serializers.SteerOut, **_errors(400, 401, 404, 429)},
    )
    def post(self, request: Request, model_slug: str) -> Response:
        from features import inference
        from features.models import Feature

        model = _model_or_404(model_slug)
        data = _valid(serializers.SteerIn, request.data)
        steering = []
        for item in data["features"]:
            feature = (
                Feature.objects.select_related("source__model")
                .filter(source__model=model, source__slug=item["source"], index=item["index"])
                .first()
            )
            if feature is None:
                raise ValidationError({"features": [f"{model.slug} has no feature {item['source']}/{item['index']}."]})
            steering.append((feature, item["strength"]))
        result = inference.steer(
            model,
            data["prompt"],
            steering,
            max_new_tokens=data["max_new_tokens"],
            temperature=data["temperature"],
            seed=data["seed"],
        )
        return Response(serializers.SteerOut(result).data)


# --- Explanations, revisions, scores, votes ------------------------------------------------------


def _valid(serializer_class, data, **kwargs) -> dict:
    if not isinstance(data, dict) and not hasattr(data, "getlist"):
        raise ValidationError({"non_field_errors": ["Send a JSON object."]})
    serializer = serializer_class(data=data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _explanation_or_404(request: Request, pk: int):
    explanation = selectors.by_id(selectors.explanations_for_api(request.user), pk)
    return _or_404(explanation, "There is no such explanation, or a moderator has hidden it.")


@extend_schema_view(
    get=extend_schema(summary="Explanations", responses={200: serializers.ExplanationOut(many=True), **READ_ERRORS}),
    post=extend_schema(
        summary="Write an explanation of a feature",
        request=serializers.ExplanationIn,
        responses={201: serializers.ExplanationOut, **_errors(400, 401, 403, 429)},
    ),
)
class ExplanationList(generics.ListAPIView):
    serializer_class = serializers.ExplanationOut
    filterset_class = filters.ExplanationFilter

    def get_queryset(self):
        return selectors.explanations_for_api(self.request.user)

    def post(self, request: Request) -> Response:
        data = _valid(serializers.ExplanationIn, request.data)
        _consume(request, "explanation")
        explanation = wiki.explanation_create(
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
            **_errors(400, 401, 403, 404, 429),
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
        data = _valid(serializers.RevisionIn, request.data)
        _consume(request, "explanation")
        revision = wiki.explanation_revise(
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
        responses={201: serializers.RevisionOut, **_errors(400, 401, 403, 404, 429)},
    )
    def post(self, request: Request, pk: int) -> Response:
        explanation = _explanation_or_404(request, pk)
        data = _valid(serializers.RevertIn, request.data)
        revision = _or_404(
            explanation.revisions.filter(pk=data["revision"]).first(), "That revision is not one of this explanation's."
        )
        _consume(request, "explanation")
        new_revision = wiki.explanation_revert(
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
        responses={200: serializers.VoteOut, **_errors(400, 401, 403, 404, 429)},
    )
    def put(self, request: Request, pk: int) -> Response:
        data = _valid(serializers.VoteIn, request.data)
        return self._vote(request, pk, data["value"])

    @extend_schema(
        summary="Withdraw your vote", request=None, responses={200: serializers.VoteOut, **_errors(401, 403, 404, 429)}
    )  # noqa: E501
    def delete(self, request: Request, pk: int) -> Response:
        return self._vote(request, pk, 0)

    def _vote(self, request: Request, pk: int, value: int) -> Response:
        explanation = _explanation_or_404(request, pk)
        _consume(request, "vote")
        outcome = wiki.vote_cast(user=request.user, explanation=explanation, value=value)
        return Response(serializers.VoteOut({"score": outcome.score, "value": outcome.value}).data)


# --- Comments ------------------------------------------------------------------------------------


@extend_schema_view(
    get=extend_schema(summary="Comments", responses={200: serializers.CommentOut(many=True), **READ_ERRORS}),
    post=extend_schema(
        summary="Comment on a feature (or an explanation of it), or reply to a comment",
        request=serializers.CommentIn,
        responses={201: serializers.CommentOut, **_errors(400, 401, 403, 429)},
    ),
)
class CommentList(generics.ListAPIView):
    serializer_class = serializers.CommentOut
    queryset = selectors.comments_for_api()
    filterset_class = filters.CommentFilter

    def post(self, request: Request) -> Response:
        data = _valid(serializers.CommentIn, request.data)
        parent = explanation = None
        if data["parent"] is not None:
            parent = selectors.by_id(Comment.objects.select_related("feature"), data["parent"])
            if parent is None:
                raise ValidationError({"parent": ["There is no such comment."]})
        feature = data.get("feature") or (parent.feature if parent is not None else None)
        if feature is None:
            raise ValidationError({"feature": ["Give the feature to comment on (or a parent comment to reply to)."]})
        if data["explanation"] is not None:
            explanation = selectors.by_id(selectors.visible_explanations(request.user), data["explanation"])
            if explanation is None:
                raise ValidationError({"explanation": ["There is no such explanation."]})
        _consume(request, "comment")
        comment = wiki.comment_post(
            author=request.user, feature=feature, body=data["body"], parent=parent, explanation=explanation
        )
        return Response(serializers.CommentOut(comment).data, status=status.HTTP_201_CREATED)


class CommentDetail(APIView):
    def _comment(self, pk: int) -> Comment:
        return _or_404(selectors.by_id(selectors.comments_for_api(), pk), "There is no such comment.")

    @extend_schema(summary="A comment", responses={200: serializers.CommentOut, **READ_ERRORS})
    def get(self, request: Request, pk: int) -> Response:
        return Response(serializers.CommentOut(self._comment(pk)).data)

    @extend_schema(
        summary="Edit your comment (within the edit window)",
        request=serializers.CommentEditIn,
        responses={200: serializers.CommentOut, **_errors(400, 401, 403, 404, 429)},
    )
    def patch(self, request: Request, pk: int) -> Response:
        comment = self._comment(pk)
        data = _valid(serializers.CommentEditIn, request.data)
        _consume(request, "comment")
        comment = wiki.comment_edit(comment=comment, user=request.user, body=data["body"])
        return Response(serializers.CommentOut(comment).data)

    @extend_schema(summary="Delete your comment", request=None, responses={204: None, **_errors(401, 403, 404, 429)})
    def delete(self, request: Request, pk: int) -> Response:
        wiki.comment_delete(comment=self._comment(pk), user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Lists ---------------------------------------------------------------------------------------


def _visible_list(request: Request, pk: int) -> FeatureList:
    feature_list = selectors.by_id(selectors.lists_visible_to(request.user), pk)
    return _or_404(feature_list, "There is no such list, or it is private.")


@extend_schema_view(
    get=extend_schema(
        summary="Public lists, and your own", responses={200: serializers.ListOut(many=True), **READ_ERRORS}
    ),  # noqa: E501
    post=extend_schema(
        summary="Create a list",
        request=serializers.ListIn,
        responses={201: serializers.ListOut, **_errors(400, 401, 403, 429)},
    ),
)
class ListList(generics.ListAPIView):
    serializer_class = serializers.ListOut
    filterset_class = filters.ListFilter

    def get_queryset(self):
        return selectors.lists_visible_to(self.request.user)

    def post(self, request: Request) -> Response:
        data = _valid(serializers.ListIn, request.data)
        _consume(request, "list")
        feature_list = wiki.list_create(
            owner=request.user, name=data["name"], description=data["description"], is_public=data["is_public"]
        )
        return Response(serializers.ListOut(_visible_list(request, feature_list.pk)).data, status=201)


class ListDetail(APIView):
    @extend_schema(summary="A list", responses={200: serializers.ListOut, **READ_ERRORS})
    def get(self, request: Request, pk: int) -> Response:
        return Response(serializers.ListOut(_visible_list(request, pk)).data)

    @extend_schema(
        summary="Change your list",
        request=serializers.ListPatchIn,
        responses={200: serializers.ListOut, **_errors(400, 401, 403, 404, 429)},
    )
    def patch(self, request: Request, pk: int) -> Response:
        feature_list = _visible_list(request, pk)
        data = _valid(serializers.ListPatchIn, request.data)
        _consume(request, "list")
        wiki.list_update(
            feature_list=feature_list,
            user=request.user,
            name=data.get("name", feature_list.name),
            description=data.get("description", feature_list.description),
            is_public=data.get("is_public", feature_list.is_public),
        )
        return Response(serializers.ListOut(_visible_list(request, pk)).data)

    @extend_schema(summary="Delete your list", request=None, responses={204: None, **_errors(401, 403, 404, 429)})
    def delete(self, request: Request, pk: int) -> Response:
        feature_list = _visible_list(request, pk)
        _consume(request, "list")
        wiki.list_delete(feature_list=feature_list, user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema_view(
    get=extend_schema(
        summary="The features of a list", responses={200: serializers.ListItemOut(many=True), **READ_ERRORS}
    ),  # noqa: E501
    post=extend_schema(
        summary="Add a feature to your list (again: updates its note)",
        request=serializers.ListItemIn,
        responses={201: serializers.ListItemOut, **_errors(400, 401, 403, 404, 429)},
    ),
)
class ListItems(generics.ListAPIView):
    serializer_class = serializers.ListItemOut

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return FeatureListItem.objects.none()
        feature_list = _visible_list(self.request, self.kwargs["pk"])
        return FeatureListItem.objects.filter(feature_list=feature_list).select_related("feature__source__model")

    def post(self, request: Request, pk: int) -> Response:
        feature_list = _visible_list(request, pk)
        data = _valid(serializers.ListItemIn, request.data)
        _consume(request, "list")
        item = wiki.list_add_feature(
            feature_list=feature_list, feature=data["feature"], user=request.user, note=data["note"]
        )
        item = FeatureListItem.objects.select_related("feature__source__model").get(pk=item.pk)
        return Response(serializers.ListItemOut(item).data, status=status.HTTP_201_CREATED)


class ListItemDetail(APIView):
    @extend_schema(
        summary="Remove a feature from your list", request=None, responses={204: None, **_errors(401, 403, 404, 429)}
    )  # noqa: E501
    def delete(self, request: Request, pk: int, feature_pk: int) -> Response:
        feature_list = _visible_list(request, pk)
        if feature_pk > selectors.MAX_ID:
            raise NotFound("That feature is not in the list.")
        _consume(request, "list")
        wiki.list_remove_feature(feature_list=feature_list, feature_id=feature_pk, user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Activation runs -----------------------------------------------------------------------------


@extend_schema_view(
    get=extend_schema(
        summary="Pipeline runs, newest first", responses={200: serializers.RunOut(many=True), **READ_ERRORS}
    ),  # noqa: E501
    post=extend_schema(
        summary="Start an activation run (computes the dashboards of layers' neurons and dictionaries)",
        request=serializers.RunIn,
        responses={202: serializers.RunOut, **_errors(400, 401, 403, 429)},
    ),
)
class RunList(generics.ListAPIView):
    serializer_class = serializers.RunOut
    pagination_class = NewestFirst
    queryset = selectors.runs_for_api()
    filterset_class = filters.RunFilter

    def post(self, request: Request) -> Response:
        from features.pipeline.corpus import BUILTIN_CORPUS
        from features.services.activation_runs import activation_run_create
        from features.services.runs import run_enqueue

        data = _valid(serializers.RunIn, request.data)
        wiki.ensure_can_write(request.user)
        corpus = BUILTIN_CORPUS if data["corpus"] in {"builtin", BUILTIN_CORPUS} else data["corpus"]
        if corpus != BUILTIN_CORPUS and not request.user.is_staff:
            raise PermissionDenied("Only staff can read a corpus from the server; use the builtin corpus.")
        model = data["model"]
        if not model.path:
            raise ValidationError({"model": [f"{model.slug} has no checkpoint on this server (it was imported)."]})
        dictionaries = list(Source.objects.filter(pk__in=data["dictionaries"], model=model))
        if len(dictionaries) != len(set(data["dictionaries"])):
            raise ValidationError({"dictionaries": [f"Some of those sources are not dictionaries of {model.slug}."]})
        # Counted only for a valid request, as on the web page: a typo should not cost one of the few runs an hour.
        _consume(request, "run")
        try:
            run = activation_run_create(
                model=model,
                layers=data["layers"],
                dictionary_sources=dictionaries,
                corpus=corpus,
                n_windows=data["n_windows"],
                window_len=data["window_len"],
                top_k=data["top_k"],
                shard_windows=data["shard_windows"],
                created_by=request.user,
            )
        except PipelineInputError as error:
            raise ValidationError({"non_field_errors": [str(error)]}) from error
        run_enqueue(run=run)
        run = selectors.runs_for_api().get(pk=run.pk)
        return Response(serializers.RunOut(run).data, status=status.HTTP_202_ACCEPTED)


@extend_schema(summary="A pipeline run and its progress", responses={200: serializers.RunOut, **READ_ERRORS})
class RunDetail(generics.RetrieveAPIView):
    serializer_class = serializers.RunOut

    def get_object(self):
        return _or_404(selectors.by_id(selectors.runs_for_api(), self.kwargs["pk"]), "There is no such run.")
