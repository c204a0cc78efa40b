"""The one registry of destinations, in posting order: the built-in ones (the activity log's
marketing events, then form submissions) and any registered later (a plug-in, a test)."""

from __future__ import annotations

from wistia_pipeline.settings import Settings
from wistia_pipeline.sinks import forms, marketing_events
from wistia_pipeline.sinks.contract import CONVERTED, MATCHED, Destination

__all__ = ["CONVERTED", "MATCHED", "Destination", "destinations", "enabled", "get", "names", "register",
           "taking", "unregister"]

_REGISTRY: dict[str, Destination] = {d.name: d for d in (marketing_events.DESTINATION, forms.DESTINATION)}


def register(destination: Destination) -> Destination:
    """Add a destination (posted after the ones before it); its name must be new."""
    if destination.name in _REGISTRY and _REGISTRY[destination.name] is not destination:
        raise ValueError(f"a destination named {destination.name!r} is already registered")
    _REGISTRY[destination.name] = destination
    return destination


def unregister(name: str) -> None:
    """Remove a destination (a test that registered one of its own)."""
    _REGISTRY.pop(name, None)


def destinations() -> tuple[Destination, ...]:
    """Every registered destination, in posting order."""
    return tuple(_REGISTRY.values())


def names() -> tuple[str, ...]:
    return tuple(_REGISTRY)


def get(name: str) -> Destination:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown destination {name!r} (known: {', '.join(_REGISTRY)})") from None


def enabled(settings: Settings) -> tuple[str, ...]:
    """The destinations the settings switch on, in posting order."""
    return tuple(d.name for d in _REGISTRY.values() if d.enabled(settings))


def taking(kind: str, among: tuple[str, ...] | list[str]) -> list[str]:
    """Of the destinations `among`, those that take MATCHED (or CONVERTED) views."""
    return [d.name for d in _REGISTRY.values() if d.name in among and d.takes == kind]
