"""Errors the user can act on.

Anything raised as ``SuiteError`` is printed as one line on stderr and ends the command
with exit code 2; a traceback means a bug in the suite, not in the user's input.
"""


class SuiteError(Exception):
    exit_code = 2
