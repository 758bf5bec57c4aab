"""The feature page's dashboard, rendered once per version of the feature and cached.

The dashboard (histogram, logits, similar features, top examples, interval samples) is what activation runs,
uploads and imports write, and nothing a reader does changes it. Every such write sets the feature's
`updated_at` (runs, `features_upload`, `activations_append`, the Neuronpedia dump import), so the cache key
holds it: a page read from the database a moment ago names the version it shows, whichever worker process
serves it, and a rewritten feature is never served from an older entry. Nothing user-specific is in it (no
CSRF token, no vote or sign-in state), so one entry serves every reader.
"""

from dataclasses import astuple, dataclass

from django.core.cache import caches
from django.template.loader import render_to_string
from django.utils.safestring import SafeString, mark_safe

from . import charts, selectors
from .models import Feature

CACHE_ALIAS = "feature_pages"

# Part of every key: bump it when the fragments' markup changes, so that a shared cache (Redis) never serves
# a deployment the markup of the one before.
MARKUP_VERSION = 4  # 2: says why a feature has no output logits; 3: a dead feature says so; 4: compact examples


@dataclass(frozen=True)
class DashboardHtml:
    """The parts of the feature page that an activation run writes, each placed where the page wants it."""

    histogram: SafeString  # the histogram's SVG with its axes, in the page's header; "" without one
    top: SafeString  # the top activations, one line each
    intervals: SafeString  # one interval sample per interval, the rest on request
    logits_and_similar: SafeString  # output logits (causal LMs) and similar features


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
        histogram=context["histogram_svg"],
        top=mark_safe(render_to_string("features/_top_examples.html", context)),
        intervals=mark_safe(render_to_string("features/_intervals.html", context)),
        logits_and_similar=mark_safe(render_to_string("features/_dashboard.html", context)),
    )
    cache.set(key, tuple(str(part) for part in astuple(html)))
    return html


def histogram_svg(feature: Feature) -> SafeString:
    """The histogram's SVG with its axes (activation from 0 to the max below, the tallest bar's count at the
    top), or "" without one. Built in Python: 64 bars of template variables and floatformat filters cost more
    than the rest of the dashboard."""
    bars = charts.histogram_bars(feature.histogram)
    if not bars:
        return mark_safe("")
    width, height = charts.HISTOGRAM_WIDTH, charts.HISTOGRAM_HEIGHT
    top = feature.max_activation
    tallest = max(bar.count for bar in bars)
    rects = "".join(
        f'<rect x="{bar.x:.2f}" y="{bar.y:.2f}" width="{bar.width:.2f}" height="{bar.height:.2f}">'
        f"<title>{bar.low:.3f} to {bar.high:.3f}: {bar.count} tokens</title></rect>"
        for bar in bars
    )
    ticks = "".join(
        f'<line class="axis" x1="{x:.1f}" y1="{height}" x2="{x:.1f}" y2="{height + 4}"/>'
        f'<text x="{x:.1f}" y="{height + 24}" text-anchor="{anchor}">{label}</text>'
        for x, anchor, label in (
            (0, "start", "0"),
            (width / 2, "middle", f"{top / 2:.2f}"),
            (width, "end", f"{top:.2f}"),
        )
    )
    return mark_safe(
        f'<svg class="histogram-chart" viewBox="0 -22 {width} {height + 48}" role="img" '
        f'aria-label="Histogram of {sum(bar.count for bar in bars):,} activating tokens from 0 to {top:.2f}">'
        f'<text x="4" y="-6">{tallest:,} tokens</text>'
        f'<line class="axis" x1="0" y1="0" x2="0" y2="{height}"/>'
        f"{rects}"
        f'<line class="axis" x1="0" y1="{height}" x2="{width}" y2="{height}"/>{ticks}'
        "</svg>"
    )
