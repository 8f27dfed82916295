"""Local stand-ins for Alpaca's servers, on 127.0.0.1 random ports.

They speak the real wire protocols (REST v2 JSON, the trade_updates JSON
stream in binary frames, the msgpack market-data stream) so the real alpaca-py
clients can be driven through our adapters without reaching the internet, and
they record what they received so tests can assert on it.
"""
