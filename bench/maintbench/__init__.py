"""maintgate's benchmark driver, in parts; bench/bench.py is its entry point."""
