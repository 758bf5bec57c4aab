"""The device and dtype this process runs models in, from settings (NEURONPEDIA_DEVICE, NEURONPEDIA_DTYPE)."""

from django.conf import settings

from .pipeline.devices import resolve


def default_placement() -> dict[str, str]:
    """{"device": "cpu" or "cuda:0"..., "dtype": "float32"...}: the options of cache.models.get() for web inference
    (dictionaries take the device alone). A setting this machine cannot honour raises PipelineInputError."""
    device, dtype = resolve(settings.NEURONPEDIA_DEVICE, settings.NEURONPEDIA_DTYPE)
    return {"device": device, "dtype": dtype}
