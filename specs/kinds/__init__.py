"""One module per experiment kind: its own section and its stage types."""
