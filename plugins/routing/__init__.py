"""Routing mode plugins: tinc's router, switch and hub modes (``Mode``)."""
