"""The node: meta protocol, data path and the I/O shell that runs them."""
