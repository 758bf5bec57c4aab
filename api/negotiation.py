"""DRF's content negotiation, remembered per Accept header: choosing a renderer parses the header and the query
string on every request, a tenth of the feature endpoint's time in Python, for an answer that depends only on
the header, the ?format= parameter and the view's renderer classes."""

import threading

from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.settings import api_settings

MAX_REMEMBERED = 256  # distinct (header, format, renderers) combinations; past that, start again
_chosen: dict[tuple, tuple[int, str]] = {}  # the key's renderer (its position) and media type
_lock = threading.Lock()


class RememberingContentNegotiation(DefaultContentNegotiation):
    def select_renderer(self, request, renderers, format_suffix=None):
        format_param = request._request.GET.get(api_settings.URL_FORMAT_OVERRIDE) if request._request.GET else None
        key = (
            request._request.META.get("HTTP_ACCEPT"),
            format_suffix,
            format_param,
            tuple(type(renderer) for renderer in renderers),
        )
        chosen = _chosen.get(key)
        if chosen is not None:
            index, media_type = chosen
            return renderers[index], media_type
        renderer, media_type = super().select_renderer(request, renderers, format_suffix)  # raises when none fits
        index = next(i for i, candidate in enumerate(renderers) if candidate is renderer)
        with _lock:
            if len(_chosen) >= MAX_REMEMBERED:
                _chosen.clear()
            _chosen[key] = (index, media_type)
        return renderer, media_type
