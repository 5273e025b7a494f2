"""tinca's default plugins.

Each subpackage fills one slot of :mod:`tinca.core.hookspecs` (devices, cipher
suites, discovery, MTU strategies, ...). They are registered through the
``tinca`` entry point group in ``pyproject.toml``, exactly like third-party
plugins, and can be blocked the same way.
"""
