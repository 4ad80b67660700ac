#!/usr/bin/env python3
"""Entry point: python bootstrap.py --help. The code lives in the clusterboot package."""

import sys

from clusterboot.cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
