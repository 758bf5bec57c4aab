"""The feature page's dashboard, rendered once per version of the feature and cached.

The dashboard (histogram, logits, similar features, top examples, interval samples) is what activation runs,
uploads and imports write, and nothing a reader does changes it. Every such write sets the feature's
`updated_at` (runs, `features_upload`, `activations_append`, the Neuronpedia dump import), so the cache key
holds it: a page read from the database a moment ago names the version it shows, whichever worker process
serves it, and a rewritten feature is never served from an older entry. Nothing user-specific is in it (no
CSRF token, no vote or sign-in state), so one entry serves every reader.
"""

from dataclasses import dataclass

from django.core.cache import caches
from django.template.loader import render_to_string
from django.utils.safestring import SafeString, mark_safe

from . import charts, selectors
from .models import Feature

CACHE_ALIAS = "feature_pages"

# Part of every key: bump it when the fragments' markup changes, so that a shared cache (Redis) never serves
# a deployment the markup of the one before.
MARKUP_VERSION = 3  # 2: says why a feature has no output logits; 3: a dead feature says so


@dataclass(frozen=True)
class DashboardHtml:
    charts_and_top: SafeString  # histogram, logits and similar features, then the top activations
    intervals: SafeString  # the interval samples


def cache_key(feature: Feature) -> str:
    source = feature.source
    return (
        f"feature-dashboard:{MARKUP_VERSION}:{feature.pk}:{feature.updated_at.isoformat()}"
        f":{source.model.slug}:{source.slug}"
    )


def feature_dashboard_html(feature: Feature) -> DashboardHtml:
    """Expects the feature with its source and model (features.selectors.feature_for_page). On a cache miss
    it reads the examples (one query) and renders them."""
    cache = caches[CACHE_ALIAS]
    key = cache_key(feature)
    cached = cache.get(key)
    if cached is not None:
        return DashboardHtml(*(mark_safe(part) for part in cached))
    top_examples, interval_examples = selectors.feature_examples(feature)
    context = {
        "feature": feature,
        "source": feature.source,
        "model": feature.source.model,
        "top_examples": top_examples,
        "histogram_svg": histogram_svg(feature),
        "interval_groups": charts.interval_groups(interval_examples),
    }
    html = DashboardHtml(
        charts_and_top=mark_safe(
            render_to_string("features/_dashboard.html", context)
            + render_to_string("features/_top_examples.html", context)
        ),
        intervals=mark_safe(render_to_string("features/_intervals.html", context)),
    )
    cache.set(key, (str(html.charts_and_top), str(html.intervals)))
    return html


def histogram_svg(feature: Feature) -> SafeString:
    """The histogram's SVG, or "" without one. Built in Python: 64 bars of template variables and
    floatformat filters cost more than the rest of the dashboard."""
    bars = charts.histogram_bars(feature.histogram)
    if not bars:
        return mark_safe("")
    width, height = charts.HISTOGRAM_WIDTH, charts.HISTOGRAM_HEIGHT
    top = f"{feature.max_activation:.2f}"
    rects = "".join(
        f'<rect x="{bar.x:.2f}" y="{bar.y:.2f}" width="{bar.width:.2f}" height="{bar.height:.2f}">'
        f"<title>{bar.low:.3f} to {bar.high:.3f}: {bar.count} tokens</title></rect>"
        for bar in bars
    )
    return mark_safe(
        f'<svg viewBox="0 0 {width} {height + 18}" role="img" aria-label="Histogram of activations from 0 to {top}">'
        f"{rects}"
        f'<text x="0" y="{height + 14}">0</text>'
        f'<text x="{width}" y="{height + 14}" text-anchor="end">{top}</text>'
        "</svg>"
    )
