"""Suite-wide pytest setup.

``pytester`` (pytest's own fixture for running pytest on generated test files) is enabled here:
``pytest_plugins`` is only honoured in a top-level conftest, and the cassette plugin's end-to-end
tests (tests/cassette/test_pytest_plugin.py) need it.
"""

pytest_plugins = ["pytester"]
