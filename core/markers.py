"""The pluggy markers for tinca's hook specifications and implementations."""

import pluggy

PROJECT_NAME = "tinca"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
"""Marks a function in :mod:`tinca.core.hookspecs` as a hook specification."""

hookimpl = pluggy.HookimplMarker(PROJECT_NAME)
"""Marks a plugin function as the implementation of the hook of the same name."""
