"""Command-line front ends: ``tincad`` (the daemon) and ``tinca`` (control)."""
