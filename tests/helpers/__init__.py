"""Helpers shared by test modules (no tests here); fixtures are registered in tests/conftest.py."""
