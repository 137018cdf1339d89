"""mire-eval's engine: registry, evaluation loop, search, metrics, results.

Importing this package is cheap on purpose (no torch): the CLI's ``--help`` and ``ls``
must answer instantly.
"""

__version__ = "0.2.0"
