"""labspec's version, recorded in every run.json and provenance.json."""

VERSION = "0.1.0"
