"""One module per `bastion` verb: ``HELP``, ``configure(parser)`` and ``run(args) -> int``.

Modules stay light at import time (every invocation builds every verb's parser); heavy imports
happen inside ``run``.
"""
