"""bastion: a container engine whose containers are isolated like runc and watched like Falco.

This module holds the version only and imports nothing, so console scripts start lean.
"""

__version__ = "0.1.0"
