import sys

from vqstudio.cli import main

sys.exit(main())
