"""Comments on features (and on their explanations), with replies: list, post, edit and delete."""

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import generics, status
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from explanations.models import Comment
from explanations.services import comments as comment_services

from .. import filters, selectors, serializers
from .base import READ_ERRORS, consume_wiki_rate, or_404, schema_errors, validated


@extend_schema_view(
    get=extend_schema(summary="Comments", responses={200: serializers.CommentOut(many=True), **READ_ERRORS}),
    post=extend_schema(
        summary="Comment on a feature (or an explanation of it), or reply to a comment",
        request=serializers.CommentIn,
        responses={201: serializers.CommentOut, **schema_errors(400, 401, 403, 429)},
    ),
)
class CommentList(generics.ListAPIView):
    serializer_class = serializers.CommentOut
    queryset = selectors.comments_for_api()
    filterset_class = filters.CommentFilter

    def post(self, request: Request) -> Response:
        data = validated(serializers.CommentIn, request.data)
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
        consume_wiki_rate(request, "comment")
        comment = comment_services.comment_post(
            author=request.user, feature=feature, body=data["body"], parent=parent, explanation=explanation
        )
        return Response(serializers.CommentOut(comment).data, status=status.HTTP_201_CREATED)


class CommentDetail(APIView):
    def _comment(self, pk: int) -> Comment:
        return or_404(selectors.by_id(selectors.comments_for_api(), pk), "There is no such comment.")

    @extend_schema(summary="A comment", responses={200: serializers.CommentOut, **READ_ERRORS})
    def get(self, request: Request, pk: int) -> Response:
        return Response(serializers.CommentOut(self._comment(pk)).data)

    @extend_schema(
        summary="Edit your comment (within the edit window)",
        request=serializers.CommentEditIn,
        responses={200: serializers.CommentOut, **schema_errors(400, 401, 403, 404, 429)},
    )
    def patch(self, request: Request, pk: int) -> Response:
        comment = self._comment(pk)
        data = validated(serializers.CommentEditIn, request.data)
        consume_wiki_rate(request, "comment")
        comment = comment_services.comment_edit(comment=comment, user=request.user, body=data["body"])
        return Response(serializers.CommentOut(comment).data)

    @extend_schema(
        summary="Delete your comment", request=None, responses={204: None, **schema_errors(401, 403, 404, 429)}
    )
    def delete(self, request: Request, pk: int) -> Response:
        comment_services.comment_delete(comment=self._comment(pk), user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
