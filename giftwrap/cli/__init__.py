"""The command line: the cliff app and one module per command; parses, calls, prints."""
