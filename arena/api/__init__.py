"""``arena api``: the operators' and analysts' console over HTTP (an entry point).

Reads the registry and the fleet's state; changes what is served only through
``arena.control.ControlPlane``, exactly as the CLI does.
"""
