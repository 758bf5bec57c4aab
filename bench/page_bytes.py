"""How many bytes a feature page sends, as rendered and gzip-compressed (GZipMiddleware), over a sample of the
database's features. Run it against a built demo (make demo, or build_demo into a var dir of your choosing):

    NEURONPEDIA_VAR_DIR=var python bench/page_bytes.py [--features 50]

It asks each page twice through Django's test client, without and with `Accept-Encoding: gzip`, as an
anonymous reader (the page the cache serves), and prints the median and the largest of each, per kind of
source, then one JSON line.
"""

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "neuronpedia.settings")
os.environ.setdefault("DJANGO_DEBUG", "1")  # a secret key is not needed to read pages here


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--features", type=int, default=50, help="features sampled per kind of source")
    args = parser.parse_args()

    import django

    django.setup()
    from django.conf import settings
    from django.test import Client

    from features.models import Feature

    settings.ALLOWED_HOSTS = ["testserver", *settings.ALLOWED_HOSTS]
    client = Client()
    figures = {}
    for kind in ("neurons", "sae"):
        features = list(
            Feature.objects.filter(source__kind=kind, max_activation__gt=0)
            .select_related("source__model")
            .order_by("pk")[: args.features]
        )
        if not features:
            continue
        plain, compressed = [], []
        for feature in features:
            url = feature.get_absolute_url()
            plain.append(len(client.get(url).content))
            compressed.append(len(client.get(url, headers={"Accept-Encoding": "gzip"}).content))
        figures[kind] = {
            "pages": len(features),
            "median_bytes": int(statistics.median(plain)),
            "max_bytes": max(plain),
            "median_gzip_bytes": int(statistics.median(compressed)),
            "max_gzip_bytes": max(compressed),
        }
        row = figures[kind]
        print(
            f"{kind:8} {row['pages']} pages: median {row['median_bytes'] / 1024:.0f} kB "
            f"(max {row['max_bytes'] / 1024:.0f} kB) as rendered, median {row['median_gzip_bytes'] / 1024:.1f} kB "
            f"(max {row['max_gzip_bytes'] / 1024:.1f} kB) gzip"
        )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
