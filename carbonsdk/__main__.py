"""``python -m carbonsdk``."""

from carbonsdk.cli import entry

entry()
