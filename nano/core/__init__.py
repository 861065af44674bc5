"""
Core: the process that keeps the cluster's state, decides where
instances go and serves the REST API (``twistd nano-core``).
"""
