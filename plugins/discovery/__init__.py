"""Discovery plugins: where peers are (ConnectTo, Address, local discovery, ...)."""
