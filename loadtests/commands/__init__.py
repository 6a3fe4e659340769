"""One module per CLI command: each adds its parser and handles its arguments."""
