import sys

from audiocnn.cli import main

sys.exit(main())
