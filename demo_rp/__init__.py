"""A small relying party that logs in through the provider, for `make run` and the tests."""
