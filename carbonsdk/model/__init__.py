"""The values of carbonsdk: frozen, I/O-free, importing nothing of the SDK but
:mod:`carbonsdk.exceptions` and :mod:`carbonsdk.clock`. Everything else passes these around:
sensors and providers make them, the ledger serialises them, reports render them."""
