import sys

from lawsmith.cli import main

sys.exit(main())
