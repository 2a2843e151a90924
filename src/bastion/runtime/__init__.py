"""The library behind bastion-runc (youki's libcontainer): create, start, kill, delete, state.

Imports only oci, identity, errors and _sys; never the sensor, engine or cli. Public names are
imported lazily by callers from their modules (`bastion.runtime.create`, `.container`) so that
`import bastion.runtime` stays free.
"""

__all__: list[str] = []
