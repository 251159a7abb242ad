"""Deployable backend components, started by the Crossbar node (see ``.crossbar/config.json``)."""
