"""Watches, bookmarks and lists of features."""

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from features.models import Feature

from ..models import (
    Bookmark,
    FeatureList,
    FeatureListItem,
    Watch,
)
from .permissions import ensure_can_write


def watch_add(user, feature: Feature) -> None:
    Watch.objects.get_or_create(user=user, feature=feature)


def bookmark_set(*, user, feature: Feature, bookmarked: bool) -> bool:
    ensure_can_write(user)
    if bookmarked:
        Bookmark.objects.get_or_create(user=user, feature=feature)
    else:
        Bookmark.objects.filter(user=user, feature=feature).delete()
    return bookmarked


def watch_set(*, user, feature: Feature, watching: bool) -> bool:
    if user is None or not user.is_authenticated:
        raise PermissionDenied("Log in to watch features.")
    if watching:
        watch_add(user, feature)
    else:
        Watch.objects.filter(user=user, feature=feature).delete()
    return watching


def _clean_list_fields(name: str, description: str) -> tuple[str, str]:
    name = " ".join(name.split())
    if not name:
        raise ValidationError({"name": "Give the list a name."})
    if len(name) > 100:
        raise ValidationError({"name": "Keep the name under 100 characters."})
    description = description.strip()
    if len(description) > 2000:
        raise ValidationError({"description": "Keep the description under 2,000 characters."})
    return name, description


def list_create(*, owner, name: str, description: str = "", is_public: bool = False) -> FeatureList:
    ensure_can_write(owner)
    name, description = _clean_list_fields(name, description)
    if FeatureList.objects.filter(owner=owner, name=name).exists():
        raise ValidationError({"name": f"You already have a list called {name!r}."})
    try:
        with transaction.atomic():
            return FeatureList.objects.create(owner=owner, name=name, description=description, is_public=is_public)
    except IntegrityError as error:
        raise ValidationError({"name": f"You already have a list called {name!r}."}) from error


def _ensure_list_owner(feature_list: FeatureList, user) -> None:
    ensure_can_write(user)
    if feature_list.owner_id != user.pk:
        raise PermissionDenied("Only the owner of a list can change it.")


def list_update(*, feature_list: FeatureList, user, name: str, description: str, is_public: bool) -> FeatureList:
    _ensure_list_owner(feature_list, user)
    name, description = _clean_list_fields(name, description)
    if FeatureList.objects.filter(owner=user, name=name).exclude(pk=feature_list.pk).exists():
        raise ValidationError({"name": f"You already have a list called {name!r}."})
    feature_list.name, feature_list.description, feature_list.is_public = name, description, is_public
    feature_list.save(update_fields=["name", "description", "is_public", "updated_at"])
    return feature_list


def list_delete(*, feature_list: FeatureList, user) -> None:
    _ensure_list_owner(feature_list, user)
    feature_list.delete()


def list_add_feature(*, feature_list: FeatureList, feature: Feature, user, note: str = "") -> FeatureListItem:
    """Add a feature (from any model) to one of the user's lists; adding it again updates its note."""
    _ensure_list_owner(feature_list, user)
    note = " ".join(note.split())
    if len(note) > 500:
        raise ValidationError({"note": "Keep the note under 500 characters."})
    with transaction.atomic():
        item, created = FeatureListItem.objects.get_or_create(
            feature_list=feature_list, feature=feature, defaults={"note": note}
        )
        if not created and note and note != item.note:
            item.note = note
            item.save(update_fields=["note"])
        FeatureList.objects.filter(pk=feature_list.pk).update(updated_at=timezone.now())
    return item


def list_remove_feature(*, feature_list: FeatureList, feature_id: int, user) -> None:
    _ensure_list_owner(feature_list, user)
    FeatureListItem.objects.filter(feature_list=feature_list, feature_id=feature_id).delete()
    FeatureList.objects.filter(pk=feature_list.pk).update(updated_at=timezone.now())
