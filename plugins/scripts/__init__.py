"""tincd's scripts (``tinc-up``, ``host-up``, ``subnet-up``, ...) as a tinca plugin.

The plugin lives in :mod:`tinca.plugins.scripts.plugin` and hangs on the
lifecycle hooks; block it with ``BlockPlugin = scripts`` to run no scripts.
"""
