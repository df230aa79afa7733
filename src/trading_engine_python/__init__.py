"""Order-management core of a Binance USD-M futures trading engine.

Layers (each a subpackage; nothing imports upward): ``exchange`` (protocol, errors, REST client),
``events`` (payload contract, batched Redis publisher), ``orders`` (tracker, decoder, transitions,
manager), ``feed`` (user-data and market streams, which drive ``orders``), ``sim`` (a Binance
simulator that speaks only the wire protocol) and ``cli`` on top.
"""

__version__ = "0.1.0"
