"""Loaded models and dictionaries, cached per process and bounded in number.

Loading a checkpoint takes seconds, so a worker that computes many shards of a run, or a web
process answering many requests, loads each model once. A lock per key makes concurrent callers
wait for the first load instead of loading the same model twice. A model or dictionary is cached per
device and dtype (the options given to get()): the same checkpoint in float32 and in bfloat16 are two items.
"""

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from .dictionaries import LoadedDictionary, load_dictionary
from .loading import LoadedModel, load_language_model

T = TypeVar("T")


class LoadedCache(Generic[T]):
    def __init__(self, load: Callable[..., T], max_items: int) -> None:
        self._load = load
        self._max_items = max_items
        self._items: OrderedDict[Hashable, T] = OrderedDict()
        self._lock = threading.Lock()
        self._key_locks: dict[Hashable, threading.Lock] = {}

    def get(self, path: str, **options: str) -> T:
        """load(path, **options), once per path and options (e.g. device="cuda:0", dtype="bfloat16"): give
        resolved names (devices.resolve), so that "auto" and what it stands for share one item."""
        key = (path, *sorted(options.items()))
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:
            with self._lock:
                if key in self._items:
                    return self._items[key]
            value = self._load(path, **options)
            with self._lock:
                self._items[key] = value
                while len(self._items) > self._max_items:
                    self._items.popitem(last=False)
            return value

    @property
    def max_items(self) -> int:
        return self._max_items

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


models: LoadedCache[LoadedModel] = LoadedCache(load_language_model, max_items=2)
dictionaries: LoadedCache[LoadedDictionary] = LoadedCache(load_dictionary, max_items=8)
