"""twistd service makers of Nano, re-exported by twisted/plugins/."""
