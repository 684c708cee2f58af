"""Domain work that views, the CLI and tests call directly."""
