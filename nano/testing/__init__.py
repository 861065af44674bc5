"""
Fakes and fixtures for Nano's tests: fast in-memory stand-ins that pass
the same contract tests as the real components.
"""
