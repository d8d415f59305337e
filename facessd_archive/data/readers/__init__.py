"""Benchmark readers: one module per annotation format, each producing ``Sample``s; ``formats`` picks one."""
