"""The client against a server that answers badly on purpose (issue 16)."""
