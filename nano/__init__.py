"""Nano: a lightweight private cloud on KVM servers."""
