"""Configuration: the tinc.conf and TOML forms of one model, and variable declarations."""
