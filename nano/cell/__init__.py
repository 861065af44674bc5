"""
The Cell: turns Core's decisions into libvirt domains and volumes on one
KVM host.
"""
