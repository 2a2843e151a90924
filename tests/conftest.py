"""Shared pytest set-up for every bastion test suite.

Everything lives in the `bastion_testing` plugin (tests/helpers/bastion_testing/plugin.py, on
the path through pytest's `pythonpath` setting), so that a pytest run started elsewhere (for
example the leak checker's own test) can load the same fixtures with `-p bastion_testing.plugin`.
"""

pytest_plugins = ("bastion_testing.plugin",)
