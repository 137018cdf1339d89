"""Helpers the tests share, imported one way: ``from tests.helpers.<module> import ...``."""
