"""A self-hosted server that the unmodified ChatCamp JavaScript SDK authenticates against."""

__version__ = "0.16.0"
"""The release, written here once: ``--version`` and the package metadata read it, and
CHANGELOG.md says what each one brought."""
