"""Order events to Redis: the payload contract (``payloads``) and the batched publisher (``publisher``).

Knows no other layer of the package. Import the submodules directly; this package imports nothing
so that an engine without Redis pays nothing for it.
"""
