"""Path MTU strategy plugins: tinc 1.0 and 1.1 probing, fixed MTU, ..."""
