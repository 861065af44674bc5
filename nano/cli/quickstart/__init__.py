"""
The all-in-one quick start behind ``tools/quickstart``: Core, a Cell and
their own libvirtd on this host, joined by a local bridge with no
uplink, and one guest booted from the test image through the ``nano``
client. ``python -m nano.cli.quickstart --help`` lists its options.
"""
