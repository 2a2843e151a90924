"""`bastion`: the Docker-like front end. Its commands grow with the engine (run, ps, logs...)."""
