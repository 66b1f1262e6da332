"""A self-hosted server that the unmodified ChatCamp JavaScript SDK authenticates against."""
