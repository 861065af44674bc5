"""Packaging for Nano, a lightweight private cloud on KVM."""

from setuptools import find_packages, setup

setup(
    name="nano-cloud",
    version="0.1.0.dev0",
    description="A lightweight private cloud on KVM: Core, Cell, FrontEnd",
    python_requires=">=3.11",
    # twisted/plugins/ has no __init__.py, so that it extends Twisted's
    # own twisted.plugins package, where twistd finds nano-core.
    packages=[
        *find_packages(include=["nano", "nano.*", "tools", "tools.*"]),
        "twisted.plugins",
    ],
    install_requires=[
        "twisted>=24.7",
        "klein>=24.8",
        "treq>=24.9",
        "pyrsistent>=0.20",
        "service-identity>=24.1",
        "cryptography>=43",
        "pyopenssl>=24.2",
        "attrs>=23.1",
        "automat>=22.10",
        "orjson>=3.10",
        "libvirt-python>=9.0",
        "multipart>=1.2",
        # cloud-init seed ISOs: the ISO writer, the YAML documents, and
        # SHA-512 crypt password hashes (libpass is the maintained fork
        # of passlib and installs as the passlib package).
        "pycdlib>=1.14",
        "pyyaml>=6.0",
        "libpass>=1.9",
        "click>=8.1",
        "tqdm>=4.66",
    ],
    extras_require={
        "test": [
            "pytest>=8",
            "pytest-twisted>=1.14",
            "hypothesis>=6.100",
            "ruff>=0.6",
        ],
    },
    entry_points={
        "console_scripts": [
            "nano-journal = tools.nano_journal:main",
            "nano = nano.cli:main",
        ],
    },
)
