"""Operator tools for Nano installations."""
