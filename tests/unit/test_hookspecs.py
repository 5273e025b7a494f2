"""The hook specifications are the plugin author's documentation: enforce it.

Modelled on datasette's ``test_plugin_hooks_are_documented``: a hook without a
docstring that says when it is called fails the build.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable

import pluggy
import pytest

from tinca.core import hookspecs
from tinca.core.markers import PROJECT_NAME
from tinca.core.plugin_manager import EVENT_HOOKS, REGISTRY_HOOKS

HOOKS: dict[str, Callable[..., object]] = {
    name: function
    for name, function in inspect.getmembers(hookspecs, inspect.isfunction)
    if name.startswith("tinca_")
}

# Words that place a call in time: "Called once at start-up", "called when a
# key command runs", "A remote node became reachable", "goes down", ...
TIMING = re.compile(
    r"\b(?:called\s+(?:once|when|whenever|after|before|during|at|on|for\s+each)"
    r"|when|whenever|once|after|before|during|became|becomes|goes|stopped)\b",
    re.IGNORECASE,
)
# The boilerplate "Every implementation is called" says nothing about when.
BOILERPLATE = re.compile(r"every implementation is called", re.IGNORECASE)
SENTENCE_END = re.compile(r"[.!?](?=\s|$)")


def spec_options(function: Callable[..., object]) -> dict[str, object] | None:
    return getattr(function, f"{PROJECT_NAME}_spec", None)


def test_there_are_hooks() -> None:
    assert len(HOOKS) >= len(REGISTRY_HOOKS) + len(EVENT_HOOKS)


@pytest.mark.parametrize("name", sorted(HOOKS))
def test_every_tinca_function_is_a_hook_spec(name: str) -> None:
    assert spec_options(HOOKS[name]) is not None, f"{name} lacks @hookspec"


@pytest.mark.parametrize("name", sorted(HOOKS))
def test_hook_is_documented_with_when_it_is_called(name: str) -> None:
    doc = inspect.getdoc(HOOKS[name])
    assert doc, f"{name} has no docstring"
    sentences = len(SENTENCE_END.findall(doc))
    assert sentences >= 2, f"{name}: the docstring needs at least 2 sentences, has {sentences}"
    assert TIMING.search(BOILERPLATE.sub("", doc)), (
        f"{name}: the docstring must say when it is called"
    )


@pytest.mark.parametrize("name", sorted(HOOKS))
def test_firstresult_hooks_say_so(name: str) -> None:
    options = spec_options(HOOKS[name]) or {}
    if options.get("firstresult"):
        assert "firstresult" in (HOOKS[name].__doc__ or ""), f"{name} must say it is firstresult"


def test_registry_hooks_match_the_specs() -> None:
    specified = {name for name in HOOKS if name.startswith("tinca_register_")}
    assert set(REGISTRY_HOOKS) == specified


@pytest.mark.parametrize("name", sorted(REGISTRY_HOOKS))
def test_registry_hooks_take_only_register(name: str) -> None:
    # PluginManager.registry() calls each implementation with register= only.
    assert list(inspect.signature(HOOKS[name]).parameters) == ["register"]
    assert REGISTRY_HOOKS[name], f"{name} needs a word for what it registers"


def test_event_hooks_are_specified() -> None:
    assert set(EVENT_HOOKS) <= set(HOOKS)


def test_pluggy_accepts_the_specs() -> None:
    manager = pluggy.PluginManager(PROJECT_NAME)
    manager.add_hookspecs(hookspecs)
    assert set(HOOKS) <= set(vars(manager.hook))
