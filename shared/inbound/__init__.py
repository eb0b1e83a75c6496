"""Inbound APIs other than Chat Completions: each one a package that turns its requests into an
:class:`~shared.operations.Operation` for the dispatcher and its answers back into its own wire format.
"""
