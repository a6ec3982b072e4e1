"""Shared pytest settings of this repository's tests."""


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "timing: a wall-clock budget; deselect with -m 'not timing' on a busy machine")
